-- Image records. Blobs live in the blob store under
-- users/<user_id>/<id>/<variant>; a row exists only once they are written.
CREATE TABLE images (
    id                  uuid PRIMARY KEY,
    user_id             text NOT NULL,
    kind                smallint NOT NULL CHECK (kind BETWEEN 1 AND 4),
    parent_image_id     text NOT NULL DEFAULT '',
    job_id              text NOT NULL DEFAULT '',
    width               integer NOT NULL,
    height              integer NOT NULL,
    content_type        text NOT NULL,
    size_bytes          bigint NOT NULL,
    sha256              text NOT NULL,
    rendition_type      text NOT NULL DEFAULT '',
    file_name           text NOT NULL DEFAULT '',
    digital_source_type text NOT NULL DEFAULT '',
    create_time         timestamptz NOT NULL
);

-- Newest-first keyset pages, all kinds or one.
CREATE INDEX images_user_time ON images (user_id, create_time DESC, id DESC);
CREATE INDEX images_user_kind_time ON images (user_id, kind, create_time DESC, id DESC);
-- Counting the generated images an upload leaves behind when deleted.
CREATE INDEX images_user_parent ON images (user_id, parent_image_id) WHERE parent_image_id <> '';
