"""The Grafana dashboard in bench/grafana reads only metrics the server exports, each with
labels it has, and every panel is filtered by the dashboard's job."""

from __future__ import annotations

import json
import re
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from db import metrics
from tests.conftest import repo_root

DASHBOARD = repo_root() / "bench" / "grafana" / "campaign-graphql.json"
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")


def exported() -> dict[str, set[str]]:
    """Each sample name the server can export -> its labels."""
    names: dict[str, set[str]] = {}
    for item in vars(metrics).values():
        if isinstance(item, Counter):
            suffixes = ["_total"]
        elif isinstance(item, Histogram):
            suffixes = ["_bucket", "_sum", "_count"]
        elif isinstance(item, Gauge):
            suffixes = [""]
        else:
            continue
        labels = set(item._labelnames) | {"job", "instance"}
        for suffix in suffixes:
            names[item._name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


def expressions(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for v in node.values() for e in expressions(v)]
    if isinstance(node, list):
        return [e for v in node for e in expressions(v)]
    return []


def test_every_expression_reads_exported_metrics_filtered_by_job() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    known = exported()
    exprs = [e for e in expressions(dashboard["panels"]) if e]
    assert len(exprs) >= 15
    used = set()
    for expr in exprs:
        selectors = SELECTOR.findall(expr)
        assert selectors, f"no metric selector in {expr!r}"
        for name, matchers in selectors:
            assert name in known, f"{name} is not exported (in {expr!r})"
            assert 'job=~"$job"' in matchers, expr
            for label in re.findall(r"([a-zA-Z_]+)\s*[!=]~?", matchers):
                assert label in known[name], f"{name} has no label {label} (in {expr!r})"
            for label in re.findall(r"by \(([^)]*)\)", expr):
                for each in (x.strip() for x in label.split(",")):
                    assert each in known[name] or each in ("status_class", "le"), (each, expr)
            used.add(name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum"))
    # Every metric family has a panel.
    families = {
        n.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") for n in known
    }
    assert families - used == set()
