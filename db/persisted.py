"""Persisted documents: SHA-256 -> document text, in PostgreSQL for every process."""

from __future__ import annotations

import asyncpg

FIND = """
UPDATE persisted_documents SET last_used_at = now() WHERE sha256 = $1 RETURNING document
"""

# Insert, then keep at most $3 rows: the least recently used go.
STORE = """
WITH stored AS (
    INSERT INTO persisted_documents (sha256, document) VALUES ($1, $2)
    ON CONFLICT (sha256) DO UPDATE SET last_used_at = now()
    RETURNING sha256
)
DELETE FROM persisted_documents
WHERE sha256 IN (
    SELECT sha256 FROM persisted_documents
    WHERE sha256 NOT IN (SELECT sha256 FROM stored)
    ORDER BY last_used_at DESC, sha256
    OFFSET $3
)
"""


async def find(conn: asyncpg.Connection, sha256: str) -> str | None:
    document: str | None = await conn.fetchval(FIND, sha256)
    return document


async def store(conn: asyncpg.Connection, sha256: str, document: str, keep: int) -> int:
    """Store the document (its hash checked by the caller); returns how many old ones went."""
    status = await conn.execute(STORE, sha256, document, keep - 1)
    return int(str(status).split()[-1])
