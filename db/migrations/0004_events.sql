-- Live events (issue 14): published by triggers in the transaction of the change, so an event
-- exists exactly when its change committed, whichever code made it. Each server worker LISTENs
-- on one dedicated connection and fans the events out to its subscribers (db/events.py).
-- Payloads carry ids only (NOTIFY caps a payload at 8000 bytes): a worker reads the rows.

-- Every audit row: campaign launches, pauses and completions are among them, with the status
-- before and after and the version, and the admins' live feed is the audit log itself.
CREATE FUNCTION notify_audit_appended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('campaign_graphql_events', json_build_object('audit', NEW.id)::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_logs_notify AFTER INSERT ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION notify_audit_appended();

-- A session that ends (logout, a password or role change, a disabled account, refresh-token
-- reuse, or its row deleted): the sockets signed in with it are checked again at once.
CREATE FUNCTION notify_session_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('campaign_graphql_events', json_build_object('session', OLD.id)::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER sessions_notify_revoked AFTER UPDATE OF revoked_at ON sessions
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION notify_session_ended();
CREATE TRIGGER sessions_notify_deleted AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION notify_session_ended();
