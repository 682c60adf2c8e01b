"""The per-request loaders: each declared once, made on first use, one per name for the whole
request."""

from __future__ import annotations

from functools import cached_property

import pytest
from aiodataloader import DataLoader

from resolvers.loaders import Loaders


class _NoPool:
    """Stands for the pool: no statement runs here."""


def _declared() -> list[str]:
    return [name for name, value in vars(Loaders).items() if isinstance(value, cached_property)]


async def test_every_declared_loader_is_made_once_on_first_use() -> None:
    pool = _NoPool()
    loaders = Loaders(pool=pool)  # type: ignore[arg-type]
    names = _declared()
    assert len(names) == 29
    assert vars(loaders) == {"_pool": pool}  # nothing made up front
    made = {name: getattr(loaders, name) for name in names}
    assert all(isinstance(loader, DataLoader) for loader in made.values())
    assert all(getattr(loaders, name) is loader for name, loader in made.items())
    assert len({id(loader) for loader in made.values()}) == 29


def test_an_unknown_loader_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        Loaders(pool=_NoPool()).campaign_by_name  # type: ignore[arg-type,attr-defined]  # noqa: B018
