-- Persisted documents (issue 15): the documents clients name by their SHA-256 (Apollo's
-- automatic persisted queries), shared by every server process.
CREATE TABLE persisted_documents (
    sha256       text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    document     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Read from the table (not from a worker's memory) for the last time: the oldest go first
    -- when the table is full.
    last_used_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX persisted_documents_last_used_idx ON persisted_documents (last_used_at);
