"""The per-request loaders are made on first use, one per name for the whole request."""

from __future__ import annotations

import typing

import pytest
from aiodataloader import DataLoader

from resolvers.loaders import Loaders


def test_every_declared_loader_is_made_once_on_first_use() -> None:
    loaders = Loaders(pool=None)  # type: ignore[arg-type]  # no statement runs here
    names = list(typing.get_type_hints(Loaders))
    assert len(names) == 20
    assert vars(loaders) == {"_pool": None}
    made = {name: getattr(loaders, name) for name in names}
    assert all(isinstance(loader, DataLoader) for loader in made.values())
    assert all(getattr(loaders, name) is loader for name, loader in made.items())
    assert len({id(loader) for loader in made.values()}) == 20


def test_an_unknown_loader_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        Loaders(pool=None).campaign_by_name  # type: ignore[arg-type,attr-defined]  # noqa: B018
