-- One analysis per image and provider version; a new model or algorithm
-- version analyses again, the old rows stay readable until the user or the
-- image goes.
CREATE TABLE analyses (
    id               uuid        PRIMARY KEY,
    user_id          text        NOT NULL,
    image_id         text        NOT NULL,
    provider         text        NOT NULL,
    provider_version text        NOT NULL,
    state            smallint    NOT NULL,
    result           jsonb       NOT NULL,
    mask_image_id    text        NOT NULL DEFAULT '',
    error            text        NOT NULL DEFAULT '',
    request_id       text        NOT NULL DEFAULT '',
    input_tokens     bigint      NOT NULL DEFAULT 0,
    output_tokens    bigint      NOT NULL DEFAULT 0,
    create_time      timestamptz NOT NULL,
    UNIQUE (user_id, image_id, provider, provider_version)
);

CREATE INDEX analyses_user_image ON analyses (user_id, image_id, create_time DESC);
