"""The per-request loaders are made on first use, one per name for the whole request; their
`load_many` batches and caches like `load`."""

from __future__ import annotations

import asyncio
import typing

import pytest
from aiodataloader import DataLoader

from resolvers.loaders import Loaders, _Loader


class _NoPool:
    """Stands for the pool: no statement runs here."""


async def test_every_declared_loader_is_made_once_on_first_use() -> None:
    pool = _NoPool()
    loaders = Loaders(pool=pool)  # type: ignore[arg-type]
    names = list(typing.get_type_hints(Loaders))
    assert len(names) == 21
    assert vars(loaders) == {"_pool": pool}
    made = {name: getattr(loaders, name) for name in names}
    assert all(isinstance(loader, DataLoader) for loader in made.values())
    assert all(getattr(loaders, name) is loader for name, loader in made.items())
    assert len({id(loader) for loader in made.values()}) == 21


def test_an_unknown_loader_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        Loaders(pool=_NoPool()).campaign_by_name  # type: ignore[arg-type,attr-defined]  # noqa: B018


class _Batches:
    """A batch function that records its batches; key 13 fails its whole batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def __call__(self, keys: list[int]) -> list[int]:
        self.batches.append(list(keys))
        if 13 in keys:
            raise ValueError("unlucky key")
        return [k * 10 for k in keys]


async def test_load_many_shares_batches_and_cache_with_load() -> None:
    batches = _Batches()
    loader = _Loader(batches, asyncio.get_running_loop())
    single = loader.load(2)
    many = loader.load_many([1, 2, 3, 1])
    assert not many.done()
    assert await many == [10, 20, 30, 10]
    assert await single == 20
    assert batches.batches == [[2, 1, 3]]  # one batch, each key once

    again = loader.load_many([3, 1])
    assert again.done()  # all cached: nothing to wait for
    assert await again == [30, 10]
    assert batches.batches == [[2, 1, 3]]

    # A key still loading in an earlier batch is waited for too.
    first = loader.load(4)
    await asyncio.sleep(0)  # dispatched: batch [4] is in flight
    mixed = loader.load_many([5, 4])
    assert await mixed == [50, 40]
    assert first.result() == 40
    assert batches.batches == [[2, 1, 3], [4], [5]]


async def test_load_many_fails_with_the_first_failed_key() -> None:
    loader = _Loader(_Batches(), asyncio.get_running_loop())
    with pytest.raises(ValueError, match="unlucky key"):
        await loader.load_many([12, 13])
    with pytest.raises(TypeError):
        loader.load_many([1, None])
    assert await loader.load(1) == 10  # the keys before the None were queued, as by `load`


async def test_primed_values_are_loaded_without_a_batch_and_never_overwrite() -> None:
    batches = _Batches()
    loader = _Loader(batches, asyncio.get_running_loop())
    loader.prime(1, "one").prime(2, "two").prime(1, "not this")
    assert await loader.load(1) == "one"
    assert await loader.load_many([2, 3]) == ["two", 30]
    assert batches.batches == [[3]]  # only the key nobody primed
    loader.prime(3, "late")  # already loaded: no change
    assert await loader.load(3) == 30

    loader.prime(4, ValueError("refused"))  # a primed error fails the load, as in aiodataloader
    with pytest.raises(ValueError, match="refused"):
        await loader.load(4)

    loader.prime(5, "stale").clear(5)  # cleared before it was loaded: read again
    assert await loader.load(5) == 50
    loader.prime(6, "stale")
    loader.clear_all()
    assert await loader.load_many([6, 1]) == [60, 10]
    assert batches.batches == [[3], [5], [6, 1]]
