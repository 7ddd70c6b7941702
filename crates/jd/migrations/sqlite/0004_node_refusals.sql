-- The node's last refusal of a revoke/delete the JD forwarded for this proposal's job
-- (kept on the job's latest proposal): the method, the node's error text and when.
ALTER TABLE proposals ADD COLUMN node_refusal_method TEXT;
ALTER TABLE proposals ADD COLUMN node_refusal_error TEXT;
ALTER TABLE proposals ADD COLUMN node_refusal_at BIGINT;
