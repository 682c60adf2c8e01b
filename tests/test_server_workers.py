"""Production serves with one worker per core unless WORKERS says otherwise."""

from __future__ import annotations

import os

import pytest

from server import build_parser


def test_production_defaults_to_one_worker_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKERS", raising=False)
    monkeypatch.setenv("APP_ENV", "production")
    assert build_parser().parse_args(["serve"]).workers == os.cpu_count()


def test_development_defaults_to_one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKERS", raising=False)
    monkeypatch.delenv("APP_ENV", raising=False)
    assert build_parser().parse_args(["serve"]).workers == 1


def test_workers_env_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKERS", "3")
    monkeypatch.setenv("APP_ENV", "production")
    assert build_parser().parse_args(["serve"]).workers == 3
