-- Revoke/delete calls the node has not answered yet (it was offline, or the call got no
-- answer): sent when the node next connects, oldest first, and removed once it answers.
CREATE TABLE node_forwards (
    id         TEXT PRIMARY KEY,
    node_id    TEXT NOT NULL REFERENCES nodes (id),
    uuid       TEXT NOT NULL,
    method     BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX node_forwards_node ON node_forwards (node_id, created_at, id);
