-- Users whose media was purged on account deletion, by SHA-256 of the user
-- id (the tombstone itself names no one): an upload or a generated image
-- that arrives for them afterwards is refused instead of outliving the purge.
CREATE TABLE purged_users (
    user_hash bytea       PRIMARY KEY,
    purged_at timestamptz NOT NULL
);
