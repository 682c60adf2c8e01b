"""The npm clients frontend teams use, run against the schema and a real server (tests/js,
installed by `make test`): graphql-codegen with every scalar typed, then `tsc` on code using
the generated types; Apollo Client's persisted queries round trip."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from db.embedded import ROOT
from tests.live_server import Live

JS = ROOT / "tests" / "js"
NPX = shutil.which("npx") or "npx"
NODE = shutil.which("node") or "node"


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=JS, capture_output=True, text=True, timeout=300)


def test_codegen_and_tsc_accept_the_schema_with_the_readme_s_scalars() -> None:
    generated = _run(NPX, "graphql-codegen", "--config", "codegen.yml")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    checked = _run(NPX, "tsc", "-p", "tsconfig.json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The README gives teams this very map (strictScalars fails on an unmapped scalar).
    scalars = re.search(r"      scalars:\n((?:        .*\n)+)", (JS / "codegen.yml").read_text())
    assert scalars is not None
    readme = (ROOT / "README.md").read_text()
    for line in scalars.group(1).splitlines():
        assert line.strip() in readme, f"README's codegen scalars map lacks: {line.strip()}"


async def test_apollo_persisted_query_link_round_trip(live: Live) -> None:
    done = _run(NODE, "apq.mjs", live.url.replace("ws://", "http://"), live.token(live.manager))
    assert done.returncode == 0, done.stdout + done.stderr
    rounds = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["useGETForHashedQueries"] for r in rounds] == [False, True]
    for r in rounds:
        first, resent, hashed = r["exchanges"]
        assert not first["withQuery"]
        assert first["body"]["errors"][0]["message"] == "PersistedQueryNotFound"
        assert first["body"]["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        assert resent["withQuery"] and resent["method"] == "POST" and resent["status"] == 200
        assert not hashed["withQuery"] and hashed["status"] == 200
        assert hashed["method"] == ("GET" if r["useGETForHashedQueries"] else "POST")
        assert r["answers"][0] == r["answers"][1]
        assert r["answers"][0]["campaigns"]["totalCount"] >= 0
