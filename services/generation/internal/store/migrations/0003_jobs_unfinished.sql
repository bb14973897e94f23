-- What the sweeper scans every few seconds: unfinished jobs by age. Without
-- it each pass would read the whole (ever-growing) jobs table.
CREATE INDEX jobs_unfinished ON jobs (create_time) WHERE state IN ('queued', 'running');
