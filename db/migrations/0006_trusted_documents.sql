-- Trusted documents (issue 15): the operations a client build ships, imported from its
-- manifest (`server.py documents import`). A client names one by its id (Relay's md5, Apollo's
-- and GraphQL Codegen's sha256, or any string); with PERSISTED_DOCUMENTS=only no other
-- document runs. An id never changes meaning: an import that would change one is refused.
CREATE TABLE trusted_documents (
    id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    document    text NOT NULL,
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    client      text,
    imported_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trusted_documents_sha256_idx ON trusted_documents (sha256);
