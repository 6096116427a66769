"""Schema extensions run through the cached-hook runner exactly as through Strawberry's own:
the same hooks, in the same order, unwinding the same way, on success and on error."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from trainql.schema.errors import TrainqlSchema


def _recording_extensions(log: list[str]) -> list[type[SchemaExtension]]:
    class Generators(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            log.append("generators: operation in")
            yield
            log.append("generators: operation out")

        def on_parse(self) -> Iterator[None]:
            log.append("generators: parse in")
            yield
            log.append("generators: parse out")

        def on_execute(self) -> Iterator[None]:
            log.append("generators: execute in")
            try:
                yield
            finally:
                log.append("generators: execute out")

    class AsyncGenerators(SchemaExtension):
        async def on_operation(self) -> AsyncIterator[None]:
            log.append("async: operation in")
            yield
            result = self.execution_context.result
            log.append(f"async: operation out, errors={bool(result and result.errors)}")

        async def on_validate(self) -> AsyncIterator[None]:
            log.append("async: validate in")
            yield
            log.append("async: validate out")

    class PlainCallables(SchemaExtension):
        # Not generators: Strawberry's own wrapping, which the runner leaves to it.
        def on_validate(self) -> None:  # type: ignore[override]
            log.append("plain: validate")

        async def on_execute(self) -> None:  # type: ignore[override]
            log.append("plain: execute")

    return [Generators, AsyncGenerators, PlainCallables]


@strawberry.type
class Query:
    @strawberry.field
    def ok(self) -> str:
        return "fine"

    @strawberry.field
    def broken(self) -> str:
        raise ValueError("boom")


async def _run(schema_class: type[strawberry.Schema], query: str) -> tuple[list[str], Any]:
    log: list[str] = []
    schema = schema_class(query=Query, extensions=_recording_extensions(log))
    result = await schema.execute(query)
    return log, (result.data, [e.message for e in result.errors or []])


class StrawberrysSchema(strawberry.Schema):
    """The same schema with Strawberry's own runner: what the cached one must match."""


@pytest.mark.parametrize("query", ["{ ok }", "{ broken }", "{ ok(", "{ missing }"])
async def test_hooks_run_and_unwind_as_strawberrys_own(query: str) -> None:
    ours = await _run(TrainqlSchema, query)
    theirs = await _run(StrawberrysSchema, query)
    assert ours == theirs
    assert "generators: operation in" in ours[0]  # the hooks did run


async def test_each_operation_gets_its_own_extension_instances() -> None:
    seen: list[ExecutionContext] = []

    class Remember(SchemaExtension):
        def on_execute(self) -> Iterator[None]:
            seen.append(self.execution_context)
            yield

    schema = TrainqlSchema(query=Query, extensions=[Remember])
    for _ in range(2):
        assert (await schema.execute("{ ok }")).data == {"ok": "fine"}
    assert len(seen) == 2 and seen[0] is not seen[1]
