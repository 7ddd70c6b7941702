-- The node's error text when it refused a proposal (delivery status FAILED), kept for the
-- operator.
ALTER TABLE proposals ADD COLUMN delivery_error TEXT;
