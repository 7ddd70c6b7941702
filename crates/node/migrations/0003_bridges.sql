-- The node's bridges to external adapters (crates/node/src/bridges, shared/spec/bridge.md §5).
--
-- `name_key` is the name lower-cased: names are case-insensitive, the display name keeps the
-- creator's spelling. The outgoing token is a secret the node must send, so it is stored as
-- is; the incoming token is only ever kept as SHA-256(salt || token). Times are microseconds
-- since the Unix epoch.

CREATE TABLE bridges (
    name_key TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    confirmations INTEGER NOT NULL DEFAULT 0 CHECK (confirmations >= 0),
    minimum_contract_payment TEXT NOT NULL DEFAULT '0',
    outgoing_token TEXT NOT NULL DEFAULT '',
    incoming_token_salt BLOB NOT NULL,
    incoming_token_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
