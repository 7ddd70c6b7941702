-- The node's job proposals (crates/node/src/store.rs, src/proposals).
--
-- A proposal is identified by the Job Distributor that sent it (its CSA public key, lowercase
-- hex) and its id (a UUID, canonical lowercase-hyphenated). Every spec version the JD sent is
-- kept with its own state. Times are microseconds since the Unix epoch.

CREATE TABLE proposals (
    jd TEXT NOT NULL,
    uuid TEXT NOT NULL,
    -- Derived from the versions, `active_version` and `deleted_at`; stored so that lists
    -- need not recompute it.
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'approved', 'rejected', 'cancelled', 'deleted', 'revoked')),
    -- The approved version whose job is active, if any.
    active_version INTEGER,
    -- Set by DeleteJob from the JD.
    deleted_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (jd, uuid)
) WITHOUT ROWID;

CREATE TABLE proposal_versions (
    jd TEXT NOT NULL,
    uuid TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    spec TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'approved', 'rejected', 'cancelled', 'revoked')),
    received_at INTEGER NOT NULL,
    -- When this version last changed state (approved, rejected, cancelled or revoked).
    answered_at INTEGER,
    PRIMARY KEY (jd, uuid, version),
    FOREIGN KEY (jd, uuid) REFERENCES proposals (jd, uuid)
) WITHOUT ROWID;

CREATE INDEX proposals_by_creation ON proposals (created_at, jd, uuid);
