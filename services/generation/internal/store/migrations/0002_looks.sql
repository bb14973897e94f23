-- Looks: a seller's saved generation settings, applied to many images so a
-- catalogue matches. A Look is a complete job spec minus the image.
CREATE TABLE looks (
    id          uuid        PRIMARY KEY,
    user_id     text        NOT NULL,
    name        text        NOT NULL,
    scene_id    text        NOT NULL DEFAULT '',
    prompt      text        NOT NULL DEFAULT '',
    variants    integer     NOT NULL CHECK (variants BETWEEN 1 AND 4),
    aspect      text        NOT NULL,
    size        text        NOT NULL,
    marketplace text        NOT NULL DEFAULT '',
    seed        bigint      NOT NULL,
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL
);

-- The owner's list, newest first (keyset paging on create_time, id), and
-- the user-deletion purge.
CREATE INDEX looks_user_page ON looks (user_id, create_time DESC, id DESC);
