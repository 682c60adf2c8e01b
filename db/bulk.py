"""Bulk loading helpers for the generator: COPY in chunks with a progress line."""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

import asyncpg

CHUNK_ROWS = 50_000


class Progress:
    """One self-overwriting status line per table on `out` (stderr by default)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stderr
        self.started = time.perf_counter()

    def update(self, table: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        bar = "#" * filled + "." * (width - filled)
        elapsed = time.perf_counter() - self.started
        self.out.write(f"\r{table:<26} [{bar}] {done:>10,}/{total:,}  {elapsed:7.1f}s")
        if done >= total:
            self.out.write("\n")
        self.out.flush()

    def step(self, label: str) -> None:
        elapsed = time.perf_counter() - self.started
        self.out.write(f"{label:<26} ...  {elapsed:7.1f}s\n")
        self.out.flush()


async def copy_rows(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterator[tuple[Any, ...]],
    total: int,
    progress: Progress,
) -> None:
    done = 0
    progress.update(table, 0, total)
    while chunk := list(itertools.islice(rows, CHUNK_ROWS)):
        await conn.copy_records_to_table(table, records=chunk, columns=list(columns))
        done += len(chunk)
        progress.update(table, done, total)


async def base_id(conn: asyncpg.Connection, table: str) -> int:
    return int(await conn.fetchval(f"SELECT coalesce(max(id), 0) FROM {table}"))
