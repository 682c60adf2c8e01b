-- The audit log's request_id is the server's own id for the request; what the caller sent in
-- X-Request-ID is kept apart, length-capped, so a caller cannot write the id an auditor
-- follows into the logs.
ALTER TABLE audit_logs
    ADD COLUMN client_request_id text
        CONSTRAINT audit_logs_client_request_id_length CHECK (length(client_request_id) <= 128);
