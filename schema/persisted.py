"""Automatic persisted queries (Apollo's protocol, which urql, Relay tooling and others speak).

A request whose `extensions.persistedQuery` is `{"version": 1, "sha256Hash": "<hex>"}`:
- without a query: the document stored under that hash runs, or the answer is the error
  `PersistedQueryNotFound` (code PERSISTED_QUERY_NOT_FOUND), on which the client sends the
  query again with its hash;
- with a query: its SHA-256 must be the hash (else PERSISTED_QUERY_HASH_MISMATCH, nothing
  runs); once it has run without a request error (it parsed, validated and passed the limits),
  it is stored for every process (db/persisted.py), at most PERSISTED_QUERIES_MAX of them, the
  least recently used going first.

Works over GET (`?extensions=...&variables=...`), so a CDN can cache a hashed query. A worker
remembers the documents it has read (a hash names one text forever, so a copy cannot go stale).

Trusted documents: the operations a client build ships, imported from its manifest with
`server.py documents import FILE` (`parse_manifest`: Relay's `persist` output, Apollo's
persisted-query manifest, GraphQL Codegen's persisted-documents.json). A request names one
by `documentId` (the GraphQL-over-HTTP proposal; a field of the body or of the GET query) or
by `extensions.persistedQuery` (its hash is the document's SHA-256). With
PERSISTED_DOCUMENTS=only nothing else runs, on any path (HTTP, batches, sockets): a document
sent as text is refused with PERSISTED_DOCUMENT_REQUIRED unless it is a trusted one, and
automatic persisted queries store nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import asyncpg
from graphql import GraphQLError

from db import persisted as db

log = logging.getLogger("campaign_graphql.persisted")

NOT_FOUND = "PersistedQueryNotFound"  # the message Apollo's and urql's links look for
MAX_STORED = int(os.environ.get("PERSISTED_QUERIES_MAX", "10000"))
# "only": trusted documents only (see the module doc); unset: any document.
MODE = os.environ.get("PERSISTED_DOCUMENTS", "").strip().lower()
ONLY = MODE == "only"


def refuse_an_unknown_mode() -> None:
    """Exit with one line when PERSISTED_DOCUMENTS is neither unset nor "only": a typo must
    not quietly let every document run."""
    if MODE not in ("", "only"):
        raise SystemExit(
            f"campaign-graphql: PERSISTED_DOCUMENTS must be unset or 'only', not {MODE!r}"
        )


DOCUMENT_ID = "documentId"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REMEMBERED = 1024  # documents a worker keeps in memory

_known: OrderedDict[str, str] = OrderedDict()


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


@dataclass(frozen=True)
class Persisted:
    """What a request's `persistedQuery` asks: its hash, and whether to store the query."""

    sha256: str
    store: bool


def asked(query: Any, extensions: Any) -> Persisted | GraphQLError | None:
    """The request's persisted-query extension, checked: None when it has none."""
    if not isinstance(extensions, dict) or "persistedQuery" not in extensions:
        return None
    given = extensions["persistedQuery"]
    if not isinstance(given, dict) or given.get("version") != 1:
        return _error(
            "extensions.persistedQuery must be {version: 1, sha256Hash: <64 hex digits>}",
            "PERSISTED_QUERY_INVALID",
        )
    sha256 = given.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        return _error(
            "extensions.persistedQuery.sha256Hash must be 64 lower-case hex digits",
            "PERSISTED_QUERY_INVALID",
        )
    if query is None:
        return Persisted(sha256, store=False)
    if not isinstance(query, str):
        return None  # the view refuses a non-string query as it is
    if hashlib.sha256(query.encode()).hexdigest() != sha256:
        return _error(
            "The query's SHA-256 is not extensions.persistedQuery.sha256Hash",
            "PERSISTED_QUERY_HASH_MISMATCH",
        )
    return Persisted(sha256, store=True)


async def document(pool: asyncpg.Pool, sha256: str) -> str | GraphQLError:
    """The document stored under the hash, or PersistedQueryNotFound."""
    text = _known.get(sha256)
    if text is None:
        async with pool.acquire() as conn:
            text = await db.find(conn, sha256)
        if text is None:
            return _error(NOT_FOUND, "PERSISTED_QUERY_NOT_FOUND")
        _remember(_known, sha256, text)
    else:
        _known.move_to_end(sha256)
    return text


async def store(pool: asyncpg.Pool, sha256: str, text: str) -> None:
    if _known.get(sha256) == text:
        return  # stored already (by this worker, or read back from the table)
    async with pool.acquire() as conn:
        dropped = await db.store(conn, sha256, text, MAX_STORED)
    if dropped:
        log.warning(
            "persisted documents: the store is full (%d); %d least recently used dropped",
            MAX_STORED,
            dropped,
        )
    _remember(_known, sha256, text)


def _remember(cache: OrderedDict[str, str], key: str, text: str) -> None:
    cache[key] = text
    if len(cache) > _REMEMBERED:
        cache.popitem(last=False)


# Trusted documents this worker has read, by id and by SHA-256 (an id, like a hash, names one
# text forever: an import never changes it).
_trusted_by_id: OrderedDict[str, str] = OrderedDict()
_trusted: OrderedDict[str, str] = OrderedDict()


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def trusted_document(pool: asyncpg.Pool, document_id: Any) -> str | GraphQLError:
    """The trusted document with this id, or PERSISTED_DOCUMENT_NOT_FOUND."""
    if not isinstance(document_id, str) or not 0 < len(document_id) <= 200:
        return _error("documentId must be a string of 1 to 200 characters", "BAD_REQUEST")
    text = _trusted_by_id.get(document_id)
    if text is None:
        async with pool.acquire() as conn:
            text = await db.trusted_by_id(conn, document_id)
        if text is None:
            return _error(
                f"No trusted document has the id {document_id!r}", "PERSISTED_DOCUMENT_NOT_FOUND"
            )
        _remember(_trusted_by_id, document_id, text)
        _remember(_trusted, sha256_of(text), text)
    return text


async def trusted_text(pool: asyncpg.Pool, sha256: str) -> str | None:
    """The trusted document whose SHA-256 this is, if any."""
    text = _trusted.get(sha256)
    if text is None:
        async with pool.acquire() as conn:
            text = await db.trusted_by_sha256(conn, sha256)
        if text is not None:
            _remember(_trusted, sha256, text)
    return text


def _required() -> GraphQLError:
    return _error(
        "This server runs trusted documents only: send a documentId (or a persisted query's "
        "hash) of your client's manifest",
        "PERSISTED_DOCUMENT_REQUIRED",
    )


@dataclass(frozen=True)
class Resolved:
    """A request's document: its text, and the hash to store it under once it ran (an
    automatic persisted query sent with its text), if any."""

    query: str | None
    store: str | None = None


async def resolve(pool: asyncpg.Pool, query: Any, extensions: Any) -> Resolved | GraphQLError:
    """The document a request runs, from its text, its `documentId` or its persisted query's
    hash, under PERSISTED_DOCUMENTS."""
    given = extensions if isinstance(extensions, dict) else {}
    if DOCUMENT_ID in given:
        if query is not None:
            return _error("Send a documentId or a query, not both", "BAD_REQUEST")
        text = await trusted_document(pool, given[DOCUMENT_ID])
        return text if isinstance(text, GraphQLError) else Resolved(text)
    wanted = asked(query, given)
    if isinstance(wanted, GraphQLError):
        return wanted
    if wanted is not None and query is None:
        text = await _by_hash(pool, wanted.sha256)
        return text if isinstance(text, GraphQLError) else Resolved(text)
    if ONLY and isinstance(query, str) and await trusted_text(pool, sha256_of(query)) is None:
        return _required()
    store = wanted.sha256 if wanted is not None and wanted.store and not ONLY else None
    return Resolved(query, store)


async def _by_hash(pool: asyncpg.Pool, sha256: str) -> str | GraphQLError:
    """The document a persisted query's hash names: a trusted one, else (unless only
    trusted documents run) one stored by an earlier request; what this worker has read
    first, without a statement."""
    if not ONLY and sha256 in _known:
        return await document(pool, sha256)
    trusted = await trusted_text(pool, sha256)
    if trusted is not None:
        return trusted
    if ONLY:
        return _error(NOT_FOUND, "PERSISTED_QUERY_NOT_FOUND")
    return await document(pool, sha256)


def document_id_in_extensions(data: dict[str, Any]) -> None:
    """A request's top-level `documentId` (the GraphQL-over-HTTP proposal; a socket
    operation's payload), moved where `resolve` reads it: the request's extensions."""
    if DOCUMENT_ID in data:
        extensions = data.get("extensions")
        if extensions is None:
            extensions = data["extensions"] = {}
        if isinstance(extensions, dict):
            extensions[DOCUMENT_ID] = data.pop(DOCUMENT_ID)


def parse_manifest(data: Any) -> list[tuple[str, str]]:
    """(id, document) pairs of a client's manifest: Apollo's persisted-query manifest
    (`{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}, ...]}`), or
    a JSON object of id -> document (Relay's `persist` output, GraphQL Codegen's
    persisted-documents.json). Raises ValueError naming what is wrong."""
    if isinstance(data, dict) and data.get("format") == "apollo-persisted-query-manifest":
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise ValueError("an Apollo manifest needs an `operations` list")
        pairs = []
        for n, op in enumerate(operations):
            if not isinstance(op, dict) or not isinstance(op.get("id"), str):
                raise ValueError(f"operations[{n}] needs a string `id`")
            if not isinstance(op.get("body"), str):
                raise ValueError(f"operations[{n}] needs a string `body`")
            pairs.append((op["id"], op["body"]))
        return pairs
    if isinstance(data, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        return list(data.items())
    raise ValueError(
        "not a manifest: expected Apollo's persisted-query manifest or a JSON object of "
        "id -> document (Relay, GraphQL Codegen)"
    )
