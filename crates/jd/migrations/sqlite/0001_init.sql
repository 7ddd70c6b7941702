-- Times are microseconds since the Unix epoch; flags are 0/1 integers; label sets are JSON.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('nodes_generation', 0);

CREATE TABLE csa_keypairs (
    id                    BIGINT PRIMARY KEY,
    public_key            TEXT NOT NULL,
    encrypted_private_key BLOB NOT NULL,
    created_at            BIGINT NOT NULL
);

CREATE TABLE nodes (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    public_key        TEXT NOT NULL UNIQUE,
    is_enabled        BIGINT NOT NULL,
    labels            TEXT NOT NULL,
    workflow_key      TEXT,
    nop_friendly_name TEXT NOT NULL DEFAULT '',
    version           TEXT NOT NULL DEFAULT '',
    p2p_key_bundles   TEXT NOT NULL DEFAULT '[]',
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE jobs (
    id                 TEXT PRIMARY KEY,
    uuid               TEXT NOT NULL,
    node_id            TEXT NOT NULL REFERENCES nodes (id),
    labels             TEXT NOT NULL,
    rollback_policy_id BIGINT,
    latest_revision    BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    deleted_at         BIGINT,
    UNIQUE (uuid, node_id)
);
CREATE INDEX jobs_node_id ON jobs (node_id);
CREATE INDEX jobs_created ON jobs (created_at, id);

CREATE TABLE proposals (
    id                   TEXT PRIMARY KEY,
    job_id               TEXT NOT NULL REFERENCES jobs (id),
    revision             BIGINT NOT NULL,
    status               BIGINT NOT NULL,
    delivery_status      BIGINT NOT NULL,
    spec                 TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    acked_at             BIGINT,
    response_received_at BIGINT,
    UNIQUE (job_id, revision)
);
CREATE INDEX proposals_created ON proposals (created_at, id);

CREATE TABLE chain_configs (
    node_id    TEXT NOT NULL REFERENCES nodes (id),
    chain_id   TEXT NOT NULL,
    chain_type BIGINT NOT NULL,
    config     BLOB NOT NULL,
    PRIMARY KEY (node_id, chain_id, chain_type)
);
