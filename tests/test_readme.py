"""The README's migration table points only at fields that exist."""

from __future__ import annotations

import re

from schema import schema
from tests.conftest import repo_root


def test_every_field_in_the_rest_migration_table_exists() -> None:
    readme = (repo_root() / "README.md").read_text()
    table = readme.split("## From the old REST API to the graph", 1)[1].split("\n## ", 1)[0]
    coordinates = re.findall(r"`([A-Z]\w+)\.(\w+)`", table)
    assert len(coordinates) >= 20
    type_map = schema._schema.type_map
    missing = [
        f"{t}.{f}" for t, f in coordinates if f not in getattr(type_map.get(t), "fields", {})
    ]
    assert missing == []
