-- The whole data model of DESIGN.md. Money is integer minor units (cents) beside a
-- currency code; every timestamp is timestamptz; enums are text with CHECK constraints
-- so that adding a value is one ALTER, not a type migration.

CREATE EXTENSION IF NOT EXISTS citext;

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         citext NOT NULL UNIQUE CHECK (email <> ''),
    name          text NOT NULL CHECK (name <> ''),
    role          text NOT NULL CHECK (role IN ('ADMIN', 'MANAGER', 'MEMBER')),
    status        text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DISABLED')),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_created_at_id_idx ON users (created_at, id);

CREATE TABLE merchants (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL CHECK (name <> ''),
    category   text NOT NULL CHECK (category <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX merchants_name_id_idx ON merchants (name, id);

CREATE TABLE accounts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('CHECKING', 'SAVINGS', 'CREDIT_CARD')),
    institution   text NOT NULL,
    last_four     char(4) NOT NULL CHECK (last_four ~ '^[0-9]{4}$'),
    currency      char(3) NOT NULL DEFAULT 'USD',
    balance_cents bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_user_id_idx ON accounts (user_id, id);

CREATE TABLE transactions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    merchant_id  bigint REFERENCES merchants (id) ON DELETE SET NULL,
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    currency     char(3) NOT NULL DEFAULT 'USD',
    category     text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    description  text NOT NULL DEFAULT ''
);
-- Keyset pagination of a user's transactions, newest first, on (occurred_at, id).
CREATE INDEX transactions_user_occurred_idx ON transactions (user_id, occurred_at DESC, id DESC);
CREATE INDEX transactions_account_id_idx ON transactions (account_id);
CREATE INDEX transactions_merchant_id_idx ON transactions (merchant_id);

CREATE TABLE campaigns (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id     bigint NOT NULL REFERENCES merchants (id) ON DELETE RESTRICT,
    created_by      bigint REFERENCES users (id) ON DELETE SET NULL,
    name            text NOT NULL CHECK (name <> ''),
    description     text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'DRAFT'
                    CHECK (status IN ('DRAFT', 'ACTIVE', 'PAUSED', 'COMPLETED')),
    reward_type     text NOT NULL CHECK (reward_type IN ('CASHBACK_PERCENT', 'FIXED_AMOUNT')),
    -- Basis points for CASHBACK_PERCENT (250 = 2.50 %), minor units for FIXED_AMOUNT.
    reward_value    bigint NOT NULL CHECK (reward_value >= 0),
    currency        char(3) NOT NULL DEFAULT 'USD',
    budget_cents    bigint NOT NULL CHECK (budget_cents >= 0),
    spent_cents     bigint NOT NULL DEFAULT 0 CHECK (spent_cents >= 0),
    starts_at       timestamptz,
    ends_at         timestamptz,
    version         integer NOT NULL DEFAULT 1,
    launched_at     timestamptz,
    paused_at       timestamptz,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at),
    CHECK (reward_type <> 'CASHBACK_PERCENT' OR reward_value <= 10000)
);
CREATE INDEX campaigns_merchant_id_idx ON campaigns (merchant_id, id);
CREATE INDEX campaigns_created_by_idx ON campaigns (created_by);
CREATE INDEX campaigns_status_id_idx ON campaigns (status, id);

CREATE TABLE rewards (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    campaign_id    bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    transaction_id bigint NOT NULL UNIQUE REFERENCES transactions (id) ON DELETE CASCADE,
    amount_cents   bigint NOT NULL CHECK (amount_cents >= 0),
    currency       char(3) NOT NULL DEFAULT 'USD',
    status         text NOT NULL DEFAULT 'PENDING'
                   CHECK (status IN ('PENDING', 'EARNED', 'REDEEMED', 'EXPIRED')),
    earned_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rewards_user_earned_idx ON rewards (user_id, earned_at DESC, id DESC);
CREATE INDEX rewards_campaign_id_idx ON rewards (campaign_id);

CREATE TABLE campaign_analytics_daily (
    campaign_id   bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    day           date NOT NULL,
    impressions   bigint NOT NULL DEFAULT 0 CHECK (impressions >= 0),
    clicks        bigint NOT NULL DEFAULT 0 CHECK (clicks >= 0),
    conversions   bigint NOT NULL DEFAULT 0 CHECK (conversions >= 0),
    spend_cents   bigint NOT NULL DEFAULT 0 CHECK (spend_cents >= 0),
    revenue_cents bigint NOT NULL DEFAULT 0 CHECK (revenue_cents >= 0),
    PRIMARY KEY (campaign_id, day)
);

CREATE TABLE ab_tests (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (name <> ''),
    status      text NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT', 'RUNNING', 'STOPPED')),
    started_at  timestamptz,
    ended_at    timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ab_tests_campaign_id_idx ON ab_tests (campaign_id, id);
CREATE INDEX ab_tests_status_id_idx ON ab_tests (status, id);

CREATE TABLE ab_test_variants (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ab_test_id    bigint NOT NULL REFERENCES ab_tests (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (name <> ''),
    is_control    boolean NOT NULL DEFAULT false,
    traffic_share numeric(5, 4) NOT NULL CHECK (traffic_share >= 0 AND traffic_share <= 1),
    impressions   bigint NOT NULL DEFAULT 0 CHECK (impressions >= 0),
    conversions   bigint NOT NULL DEFAULT 0 CHECK (conversions >= 0),
    UNIQUE (ab_test_id, name)
);

CREATE TABLE user_merchant_affinity (
    user_id             bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    merchant_id         bigint NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    score               double precision NOT NULL CHECK (score >= 0 AND score <= 1),
    transaction_count   integer NOT NULL DEFAULT 0 CHECK (transaction_count >= 0),
    total_spend_cents   bigint NOT NULL DEFAULT 0 CHECK (total_spend_cents >= 0),
    last_transaction_at timestamptz,
    PRIMARY KEY (user_id, merchant_id)
);
CREATE INDEX user_merchant_affinity_merchant_idx ON user_merchant_affinity (merchant_id);
CREATE INDEX user_merchant_affinity_user_score_idx ON user_merchant_affinity (user_id, score DESC);

-- Append-only: the application only ever INSERTs here.
CREATE TABLE audit_logs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   bigint,
    before      jsonb,
    after       jsonb,
    request_id  text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX audit_logs_created_idx ON audit_logs (created_at DESC, id DESC);
CREATE INDEX audit_logs_actor_idx ON audit_logs (actor_id);
CREATE INDEX audit_logs_target_idx ON audit_logs (target_type, target_id);

CREATE TABLE settings (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_by bigint REFERENCES users (id) ON DELETE SET NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX settings_updated_by_idx ON settings (updated_by);

CREATE TABLE password_reset_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id);
CREATE INDEX password_reset_tokens_created_by_idx ON password_reset_tokens (created_by);
