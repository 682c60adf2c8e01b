-- Sessions (issue 12): a refresh-token family per sign-in, and shared sign-in throttle counters.

-- One row per sign-in. Access tokens carry the session id (`sid`); the per-request viewer
-- read joins this table, so revoking the row ends the session's access tokens at once.
CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- Absolute end: refreshing never extends it (REFRESH_TOKEN_TTL_DAYS after sign-in).
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text CHECK (revoked_reason IN (
        'LOGOUT', 'LOGOUT_ALL', 'REFRESH_TOKEN_REUSED', 'PASSWORD_CHANGED', 'ROLE_CHANGED',
        'DISABLED'))
);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Every refresh token a session was given, by hash only: the newest is unused; a used one
-- presented again means it was copied, and ends the session. Deleted with their session.
CREATE TABLE refresh_tokens (
    token_hash  text PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- Failed sign-ins per account (normalised email) and per client address, in fixed windows:
-- one row per key, restarted when its window has passed, deleted when stale.
CREATE TABLE sign_in_throttle (
    scope        text NOT NULL CHECK (scope IN ('ACCOUNT', 'ADDRESS')),
    key          text NOT NULL,
    window_start timestamptz NOT NULL,
    failures     integer NOT NULL CHECK (failures >= 0),
    PRIMARY KEY (scope, key)
);
CREATE INDEX sign_in_throttle_window_idx ON sign_in_throttle (window_start);
