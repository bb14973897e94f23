-- The credit ledger. Credits are integers; every transaction is a set of
-- entries that sums to zero (double entry). Per user there are two accounts
-- whose balances must never go negative, available and held, cached in
-- `accounts` and updated in the same transaction as the entries that move
-- them. System accounts (purchases, trial, promo, admin, consumed, expired,
-- forfeited, refunds, receivable) have no cached row: their balances are
-- sums of entries, so no single hot row serialises every user's writes.

CREATE TABLE accounts (
    user_id    text        PRIMARY KEY,
    available  bigint      NOT NULL DEFAULT 0 CHECK (available >= 0),
    held       bigint      NOT NULL DEFAULT 0 CHECK (held >= 0),
    -- Set on account deletion: no more grants (but purchases) or holds.
    closed_at  timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE transactions (
    id              uuid        PRIMARY KEY,
    user_id         text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('grant_trial', 'grant_purchase', 'grant_admin',
                        'grant_promo', 'reserve', 'capture', 'release', 'expire', 'refund', 'forfeit')),
    available_delta bigint      NOT NULL,
    held_delta      bigint      NOT NULL,
    job_id          text,
    hold_id         uuid,
    purchase_id     uuid,
    -- Grants and refunds are idempotent by this key; a repeat with the same
    -- key conflicts here and reads the first.
    idempotency_key text        UNIQUE,
    description     text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL
);

CREATE INDEX transactions_user_history ON transactions (user_id, created_at DESC, id DESC);
-- At most one grant per checkout session (a purchase is one session).
CREATE UNIQUE INDEX transactions_one_grant_per_purchase ON transactions (purchase_id) WHERE kind = 'grant_purchase';

CREATE TABLE entries (
    transaction_id uuid   NOT NULL REFERENCES transactions (id),
    account        text   NOT NULL CHECK (account IN ('available', 'held', 'purchases', 'trial', 'promo', 'admin',
                       'consumed', 'expired', 'forfeited', 'refunds', 'receivable')),
    -- The user whose money this is, for system accounts too, so the
    -- per-user identity granted = available + held + consumed + … can be
    -- checked.
    user_id        text   NOT NULL,
    amount         bigint NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (transaction_id, account)
);

-- Holds: one per job (job_id UNIQUE is the idempotency of Reserve).
CREATE TABLE holds (
    id                     uuid        PRIMARY KEY,
    job_id                 text        NOT NULL UNIQUE,
    user_id                text        NOT NULL,
    amount                 bigint      NOT NULL CHECK (amount > 0),
    expire_at              timestamptz NOT NULL,
    created_at             timestamptz NOT NULL,
    reserve_transaction_id uuid        NOT NULL REFERENCES transactions (id)
);

CREATE INDEX holds_user ON holds (user_id);

-- How a hold ended: the primary key makes each hold end exactly once.
CREATE TABLE hold_ends (
    hold_id        uuid        PRIMARY KEY REFERENCES holds (id),
    outcome        text        NOT NULL CHECK (outcome IN ('captured', 'released', 'expired')),
    captured       bigint      NOT NULL CHECK (captured >= 0),
    released       bigint      NOT NULL CHECK (released >= 0),
    transaction_id uuid        NOT NULL REFERENCES transactions (id),
    ended_at       timestamptz NOT NULL
);

-- Holds not yet ended, for the reaper and account deletion; a row leaves
-- when its hold ends. (holds stays append-only; this is a work list.)
CREATE TABLE open_holds (
    hold_id   uuid        PRIMARY KEY REFERENCES holds (id),
    user_id   text        NOT NULL,
    expire_at timestamptz NOT NULL
);

CREATE INDEX open_holds_expiry ON open_holds (expire_at);
CREATE INDEX open_holds_user ON open_holds (user_id);

-- Ledger records never change. The app connects as the tables' owner in
-- development, for whom REVOKE would not hold, so triggers refuse the change
-- for everyone; production additionally runs the app as a role without
-- UPDATE/DELETE/TRUNCATE on these tables (README).
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER holds_append_only BEFORE UPDATE OR DELETE ON holds
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER holds_no_truncate BEFORE TRUNCATE ON holds
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER hold_ends_append_only BEFORE UPDATE OR DELETE ON hold_ends
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER hold_ends_no_truncate BEFORE TRUNCATE ON hold_ends
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- Every transaction balances, checked by the database at commit: an
-- unbalanced transaction cannot be committed by any code path.
CREATE FUNCTION ledger_transaction_balances() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
BEGIN
    SELECT sum(amount) INTO total FROM entries WHERE transaction_id = NEW.transaction_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (sum %)', NEW.transaction_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER entries_balance AFTER INSERT ON entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balances();

-- Purchases of credit packs. Mutable: status moves open → paid (→ refunded
-- or disputed), or open → failed.
CREATE TABLE purchases (
    id                       uuid        PRIMARY KEY,
    user_id                  text        NOT NULL,
    pack_id                  text        NOT NULL,
    credits                  bigint      NOT NULL CHECK (credits > 0),
    amount                   bigint      NOT NULL CHECK (amount >= 0),
    currency                 text        NOT NULL,
    status                   text        NOT NULL DEFAULT 'open'
                             CHECK (status IN ('open', 'paid', 'failed', 'refunded', 'disputed')),
    stripe_session_id        text        UNIQUE,
    stripe_payment_intent_id text,
    stripe_charge_id         text,
    -- Credits already taken back by refunds (cumulative).
    refunded_credits         bigint      NOT NULL DEFAULT 0 CHECK (refunded_credits >= 0),
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL
);

CREATE INDEX purchases_user ON purchases (user_id, created_at DESC);
CREATE INDEX purchases_payment_intent ON purchases (stripe_payment_intent_id);
CREATE INDEX purchases_charge ON purchases (stripe_charge_id);

CREATE TABLE customers (
    user_id            text        PRIMARY KEY,
    stripe_customer_id text        NOT NULL UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE billing_details (
    user_id     text        PRIMARY KEY,
    name        text        NOT NULL DEFAULT '',
    email       text        NOT NULL DEFAULT '',
    line1       text        NOT NULL DEFAULT '',
    line2       text        NOT NULL DEFAULT '',
    city        text        NOT NULL DEFAULT '',
    postal_code text        NOT NULL DEFAULT '',
    state       text        NOT NULL DEFAULT '',
    country     text        NOT NULL DEFAULT '',
    card_brand  text        NOT NULL DEFAULT '',
    card_last4  text        NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Stripe events handled, by Stripe's event id: a redelivery is a no-op.
CREATE TABLE webhook_events (
    id          text        PRIMARY KEY,
    type        text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
