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


async def trusted_by_id(conn: asyncpg.Connection, document_id: str) -> str | None:
    document: str | None = await conn.fetchval(
        "SELECT document FROM trusted_documents WHERE id = $1", document_id
    )
    return document


async def trusted_by_sha256(conn: asyncpg.Connection, sha256: str) -> str | None:
    document: str | None = await conn.fetchval(
        "SELECT document FROM trusted_documents WHERE sha256 = $1 LIMIT 1", sha256
    )
    return document


async def import_trusted(
    conn: asyncpg.Connection, documents: list[tuple[str, str, str]], client: str | None
) -> tuple[int, list[str]]:
    """Store (id, document, sha256) triples in one transaction: (how many were new, the ids
    that already name another document, in which case nothing is stored)."""
    async with conn.transaction():
        known = {
            r["id"]: r["document"]
            for r in await conn.fetch(
                "SELECT id, document FROM trusted_documents WHERE id = ANY($1::text[])",
                [d[0] for d in documents],
            )
        }
        conflicts = [i for i, text, _ in documents if i in known and known[i] != text]
        if conflicts:
            return 0, conflicts
        new = [d for d in documents if d[0] not in known]
        await conn.executemany(
            "INSERT INTO trusted_documents (id, document, sha256, client) VALUES ($1, $2, $3, $4)",
            [(*d, client) for d in new],
        )
        return len(new), []
