"""The operation hooks: what runs around every operation, on every path (HTTP, WebSocket,
tests), in order. APQ, metrics and tracing plug in here.

They run as ONE Strawberry schema extension (`OperationHooks`): Strawberry builds a context
manager per extension for each phase of every operation (operation, parse, validate,
execute), about 10 µs each, so four extensions cost ~150 µs of CPU a request before any
field; one extension calling the hooks in turn costs a quarter of that. A hook is a plain
function of Strawberry's execution context; one that refuses raises a GraphQLError (Strawberry
reports it as a request error, without `data`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

Hook = Callable[[ExecutionContext], None]
# What an operation raised, if anything, kept on its execution context for `after_operation`
# (a hook's refusal, a cancellation): Strawberry sets `ctx.result` only after they ran.
RAISED = "_hooks_raised"
ResultHook = Callable[[ExecutionContext, Any], None]


@dataclass(frozen=True)
class Hooks:
    """Each phase's hooks, in the order they run. `before_*` run before the phase,
    `after_operation` once the result is known (it may replace `ctx.result`); `each_result`
    on each result a socket sends (a subscription's events, a query's one result), before it
    is sent: a socket's operation ends only after its results went out."""

    before_operation: Sequence[Hook] = ()
    before_parse: Sequence[Hook] = ()
    before_validate: Sequence[Hook] = ()
    before_execute: Sequence[Hook] = ()
    after_operation: Sequence[Hook] = ()
    each_result: Sequence[ResultHook] = ()


def operation_hooks(hooks: Hooks) -> type[SchemaExtension]:
    """The Strawberry extension that runs `hooks`."""

    class OperationHooks(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            for hook in hooks.before_operation:
                hook(self.execution_context)
            # Also when a hook refused the operation: every operation is seen once.
            try:
                yield
            except BaseException as exc:
                setattr(self.execution_context, RAISED, exc)
                raise
            finally:
                for hook in hooks.after_operation:
                    hook(self.execution_context)

        def on_parse(self) -> Iterator[None]:
            for hook in hooks.before_parse:
                hook(self.execution_context)
            yield

        def on_validate(self) -> Iterator[None]:
            for hook in hooks.before_validate:
                hook(self.execution_context)
            yield

        def on_execute(self) -> Iterator[None]:
            for hook in hooks.before_execute:
                hook(self.execution_context)
            yield

        def on_stream_result(self, result: Any) -> Iterator[None]:
            for hook in hooks.each_result:
                hook(self.execution_context, result)
            yield

    return OperationHooks
