-- Decisions the JD has not confirmed yet (crates/node/src/proposals/untold.rs): a rejection
-- or cancellation is recorded here in the transaction that makes it, and removed once the JD
-- answered its `RejectedJob` / `CancelledJob`. What is left is sent again on every new link.

CREATE TABLE untold_decisions (
    jd TEXT NOT NULL,
    uuid TEXT NOT NULL,
    version INTEGER NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('rejected', 'cancelled')),
    decided_at INTEGER NOT NULL,
    PRIMARY KEY (jd, uuid, version, decision)
) WITHOUT ROWID;

CREATE INDEX untold_decisions_by_time ON untold_decisions (jd, decided_at);
