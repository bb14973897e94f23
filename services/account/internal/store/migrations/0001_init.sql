-- Users. A deleted user keeps only this tombstone row (id, state, times):
-- email, name, password and preferences are erased when the deletion
-- completes, so the id in other services' anonymised records resolves to
-- "deleted" and nothing else.
CREATE TABLE users (
    id                   uuid        PRIMARY KEY,
    email                text        UNIQUE,
    display_name         text        NOT NULL DEFAULT '',
    state                text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'deleting', 'deleted')),
    password_hash        text,
    default_scene_id     text        NOT NULL DEFAULT '',
    default_aspect_ratio text        NOT NULL DEFAULT '1:1',
    default_size         text        NOT NULL DEFAULT '1K',
    email_notifications  boolean     NOT NULL DEFAULT true,
    analytics_consent    boolean     NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    deleted_at           timestamptz,
    CHECK (state = 'deleted' OR email IS NOT NULL)
);

-- Sign-in links: only the SHA-256 of the token is kept. A row is written for
-- every request, whether or not the email has an account.
CREATE TABLE magic_links (
    token_hash bytea       PRIMARY KEY,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX magic_links_email ON magic_links (email);
CREATE INDEX magic_links_expires_at ON magic_links (expires_at);

-- Sessions: revoking one is deleting its row.
CREATE TABLE sessions (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id),
    token_hash   bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    user_agent   text        NOT NULL DEFAULT '',
    ip_address   text        NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id, created_at DESC, id DESC);

CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id),
    name         text        NOT NULL,
    prefix       text        NOT NULL,
    secret_hash  bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz
);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at DESC, id DESC);

-- Rate-limit hits, one row per counted event, in sliding windows. Buckets
-- name a hashed email or an IP, never a plain address. Writers of one bucket
-- serialise on a transaction advisory lock, so limits hold across replicas.
CREATE TABLE rate_hits (
    bucket text        NOT NULL,
    at     timestamptz NOT NULL
);
CREATE INDEX rate_hits_bucket ON rate_hits (bucket, at);

-- Access-token signing keys (Ed25519). A key is published from created_at,
-- signs from active_from, and is served until every token it signed expired.
CREATE TABLE signing_keys (
    kid         text        PRIMARY KEY,
    private_key bytea       NOT NULL,
    public_key  bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    active_from timestamptz NOT NULL
);

CREATE TABLE contact_messages (
    id         uuid        PRIMARY KEY,
    user_id    uuid        REFERENCES users (id),
    name       text        NOT NULL,
    email      text        NOT NULL,
    message    text        NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX contact_messages_user ON contact_messages (user_id);
CREATE INDEX contact_messages_email ON contact_messages (email);

CREATE TABLE exports (
    id             uuid        PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users (id),
    state          text        NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed')),
    created_at     timestamptz NOT NULL,
    completed_at   timestamptz,
    image_id       text        NOT NULL DEFAULT '',
    size_bytes     bigint      NOT NULL DEFAULT 0,
    failure_reason text        NOT NULL DEFAULT ''
);
CREATE INDEX exports_user ON exports (user_id, created_at DESC);

-- Deletion requests and the services' confirmations. Kept after the user is
-- erased: they hold no personal data, only the proof that the request was
-- carried out and when.
CREATE TABLE deletions (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL UNIQUE REFERENCES users (id),
    requested_at timestamptz NOT NULL,
    completed_at timestamptz
);

CREATE TABLE deletion_confirmations (
    deletion_id  uuid        NOT NULL REFERENCES deletions (id),
    service      text        NOT NULL,
    confirmed_at timestamptz NOT NULL,
    PRIMARY KEY (deletion_id, service)
);

-- Mails handed to a provider, recorded in the mail consumer's transaction.
CREATE TABLE sent_mails (
    mail_id  uuid        PRIMARY KEY,
    template text        NOT NULL,
    sent_at  timestamptz NOT NULL
);

-- Admin audit log: append-only. The trigger refuses UPDATE, DELETE and
-- TRUNCATE for every role, the owner included.
CREATE TABLE admin_audit (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    admin_user_id  text        NOT NULL,
    action         text        NOT NULL,
    target_user_id text        NOT NULL DEFAULT '',
    details        jsonb       NOT NULL DEFAULT '{}',
    trace_id       text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION admin_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin_audit is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER admin_audit_no_update BEFORE UPDATE OR DELETE ON admin_audit
    FOR EACH ROW EXECUTE FUNCTION admin_audit_append_only();
CREATE TRIGGER admin_audit_no_truncate BEFORE TRUNCATE ON admin_audit
    FOR EACH STATEMENT EXECUTE FUNCTION admin_audit_append_only();
