"""Per-request dataloaders, named <Entity>By<Key>Loader: one query per batch, not per row."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from trainql import domain
from trainql.db import datasets as dataset_store
from trainql.db import training_runs as run_store
from trainql.db import users as user_store
from trainql.resolvers.context import Context

K = TypeVar("K")
V = TypeVar("V")


class UserByIdLoader(DataLoader[int, domain.User | None]):
    def __init__(self, ctx: Context) -> None:
        async def load(ids: list[int]) -> Sequence[domain.User | None]:
            async with ctx.db.session() as session:
                found = await user_store.get_users_by_ids(session, list(set(ids)))
            return [found.get(i) for i in ids]

        super().__init__(load_fn=load)


class DatasetByIdLoader(DataLoader[uuid.UUID, domain.Dataset | None]):
    def __init__(self, ctx: Context) -> None:
        async def load(ids: list[uuid.UUID]) -> Sequence[domain.Dataset | None]:
            async with ctx.db.session() as session:
                found = await dataset_store.get_datasets_by_ids(session, list(set(ids)))
            return [found.get(i) for i in ids]

        super().__init__(load_fn=load)


class TrainingRunDetailsByIdLoader(DataLoader[int, domain.TrainingRunDetails | None]):
    """Details of runs read without them (list pages), for the clients that select them."""

    def __init__(self, ctx: Context) -> None:
        async def load(ids: list[int]) -> Sequence[domain.TrainingRunDetails | None]:
            async with ctx.db.read() as conn:
                found = await run_store.get_training_run_details(conn, run_ids=list(set(ids)))
            return [found.get(i) for i in ids]

        super().__init__(load_fn=load)


LoaderT = TypeVar("LoaderT", bound=DataLoader[Any, Any])


def loader(ctx: Context, cls: Callable[[Context], LoaderT]) -> LoaderT:
    """The request's instance of a loader class, created on first use."""
    key = getattr(cls, "__name__", repr(cls))
    if key not in ctx.loaders:
        ctx.loaders[key] = cls(ctx)
    found: LoaderT = ctx.loaders[key]
    return found
