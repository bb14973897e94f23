-- Exports whose zip was deleted after the retention period.
ALTER TABLE exports DROP CONSTRAINT exports_state_check;
ALTER TABLE exports ADD CONSTRAINT exports_state_check
    CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'expired'));
-- What the expirer scans.
CREATE INDEX exports_to_expire ON exports (completed_at) WHERE state = 'succeeded';
