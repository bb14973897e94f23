-- Generation jobs and their per-variant outputs.
CREATE TABLE jobs (
    id            uuid        PRIMARY KEY,
    user_id       text        NOT NULL,
    image_id      text        NOT NULL,
    scene_id      text        NOT NULL DEFAULT '',
    prompt        text        NOT NULL DEFAULT '',
    variants      integer     NOT NULL CHECK (variants BETWEEN 1 AND 4),
    aspect        text        NOT NULL,
    size          text        NOT NULL,
    marketplace   text        NOT NULL DEFAULT '',
    product_lock  boolean     NOT NULL,
    look_id       text        NOT NULL DEFAULT '',
    seed          bigint      NOT NULL,
    state         text        NOT NULL CHECK (state IN
                      ('queued', 'running', 'succeeded', 'partially_succeeded', 'failed', 'canceled')),
    hold_id       text        NOT NULL,
    reserved      bigint      NOT NULL CHECK (reserved > 0),
    captured      bigint      NOT NULL DEFAULT 0 CHECK (captured >= 0),
    released      bigint      NOT NULL DEFAULT 0 CHECK (released >= 0),
    error         text        NOT NULL DEFAULT '',
    attempts      integer     NOT NULL CHECK (attempts >= 1),
    lease_owner   text        NOT NULL DEFAULT '',
    lease_until   timestamptz,
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL,
    start_time    timestamptz,
    complete_time timestamptz,
    -- A job never charges more than it held.
    CHECK (captured + released <= reserved)
);

-- The owner's list, newest first (keyset paging on create_time, id).
CREATE INDEX jobs_user_page ON jobs (user_id, create_time DESC, id DESC);
-- What the sweeper scans: running jobs by lease expiry.
CREATE INDEX jobs_running_lease ON jobs (lease_until) WHERE state = 'running';

CREATE TABLE job_outputs (
    job_id     uuid             NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx        integer          NOT NULL CHECK (idx BETWEEN 0 AND 3),
    state      text             NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    image_id   text             NOT NULL DEFAULT '',
    fidelity   double precision NOT NULL DEFAULT 0,
    flagged    boolean          NOT NULL DEFAULT false,
    compliance jsonb,
    error      text             NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, idx)
);
