"""Merchant queries and edits."""

from __future__ import annotations

from typing import Any

from strawberry import UNSET

from db import merchants as db
from db.merchants import MerchantRow
from db.page_batch import RenderedLists
from resolvers import audit
from resolvers.context import Context
from resolvers.errors import ErrorCode
from resolvers.ids import InvalidGlobalId, from_global_id
from resolvers.outcome import Outcome
from resolvers.pagination import INT, STR, CursorKind, capped_request, read_page
from resolvers.validation import Checker

CURSOR = CursorKind("merchants", (STR, INT))
NAME_MAX = 200
CATEGORY_MAX = 100


async def list_merchants(
    ctx: Context,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    search: str | None,
    how: str | RenderedLists | None = None,
) -> Any:
    """A page of merchants: MerchantRows, or what PostgreSQL writes (`how`, db/merchants.py)."""
    request = await capped_request(ctx, CURSOR, first=first, after=after, last=last, before=before)
    return await read_page(
        ctx,
        request,
        lambda conn, r: db.page(conn, r, search=search, how=how),
        ctx.loaders.merchant_by_id if how is None else None,
    )


async def count_merchants(ctx: Context, search: str | None) -> int:
    async with ctx.connection() as conn:
        return await db.total(conn, search=search)


def cursor_of(row: MerchantRow | db.RenderedMerchant) -> str:
    return CURSOR.encode((row.name, row.id))


async def create(ctx: Context, name: str, category: str) -> Outcome[MerchantRow]:
    check = Checker()
    name = check.text("name", name, max_length=NAME_MAX)
    category = check.text("category", category, max_length=CATEGORY_MAX)
    if check.problems:
        return Outcome(None, check.problems)
    async with ctx.transaction() as conn:
        row = await db.insert(conn, name, category)
        await audit.record(
            conn, ctx, "merchant.create", "Merchant", row.id, None, audit.snapshot(row)
        )
    return Outcome(row)


async def update(ctx: Context, global_id: str, name: Any, category: Any) -> Outcome[MerchantRow]:
    check = Checker()
    try:
        pk = from_global_id(global_id, "Merchant")
    except InvalidGlobalId:
        return Outcome.refuse(
            "id", f"{global_id!r} is not a valid Merchant ID", ErrorCode.INVALID_ID
        )
    new_name = check.text("name", name, max_length=NAME_MAX) if name not in (UNSET, None) else None
    new_category = (
        check.text("category", category, max_length=CATEGORY_MAX)
        if category not in (UNSET, None)
        else None
    )
    if check.problems:
        return Outcome(None, check.problems)
    async with ctx.transaction() as conn:
        [before] = await db.by_ids(conn, [pk])
        row = await db.update(conn, pk, new_name, new_category)
        if row is None or before is None:
            return Outcome.refuse("id", "No merchant has this ID", ErrorCode.NOT_FOUND)
        await audit.record(
            conn,
            ctx,
            "merchant.update",
            "Merchant",
            pk,
            audit.snapshot(before),
            audit.snapshot(row),
        )
    return Outcome(row)
