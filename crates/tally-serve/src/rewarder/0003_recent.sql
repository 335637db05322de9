-- The operator page's most recent epochs: one bounded, indexed read of each
-- table, newest first.
CREATE INDEX reward_runs_recent ON reward_runs (created_ms DESC, epoch DESC);
CREATE INDEX reward_quarantine_recent ON reward_quarantine (created_ms DESC, epoch DESC);
