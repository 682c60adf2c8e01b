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
        _remember(sha256, text)
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
    _remember(sha256, text)


def _remember(sha256: str, text: str) -> None:
    _known[sha256] = text
    if len(_known) > _REMEMBERED:
        _known.popitem(last=False)
