"""Settings read from the environment: one parser per kind, so every variable is read and
refused the same way (a bad value stops the process at start-up, naming the variable)."""

from __future__ import annotations

from collections.abc import Mapping

PRODUCTION = "production"


def positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    value = int(raw) if raw else default
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (got {raw})")
    return value


def positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    value = float(raw) if raw else default
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds (got {raw})")
    return value


def is_production(env: Mapping[str, str]) -> bool:
    return env.get("APP_ENV", "").strip().lower() == PRODUCTION
