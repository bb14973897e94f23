-- Finding a generation job's images when its uncommitted outputs are discarded.
CREATE INDEX images_user_job ON images (user_id, job_id) WHERE job_id <> '';
