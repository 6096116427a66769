"""Per-request dataloaders, named <Entity>By<Key>Loader: one query per batch, not per row."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from trainql import domain
from trainql.db import datasets as dataset_store
from trainql.db import training_runs as run_store
from trainql.db import users as user_store
from trainql.resolvers import model_aliases as alias_resolvers
from trainql.resolvers import training_runs as run_resolvers
from trainql.resolvers.context import Context
from trainql.resolvers.pagination import Page, PageRequest

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


class AliasesByTrainingRunIdLoader(DataLoader[int, list[str]]):
    """The aliases of every run on a page, in one statement (HR_STAFF or MANAGER)."""

    def __init__(self, ctx: Context) -> None:
        async def load(ids: list[int]) -> Sequence[list[str]]:
            found = await alias_resolvers.aliases_of_training_runs(
                ctx=ctx, run_ids=list(dict.fromkeys(ids))
            )
            return [found[i] for i in ids]

        super().__init__(load_fn=load)


@dataclass(frozen=True, slots=True)
class DatasetRunsPage:
    """Which page of a dataset's runs a `Dataset.trainingRuns` field asks for."""

    dataset_id: uuid.UUID
    first: int | None
    after: str | None


class TrainingRunsByDatasetLoader(DataLoader[DatasetRunsPage, Page[domain.TrainingRun]]):
    """The runs of every dataset on a page, in one batch per (first, after) asked for."""

    def __init__(self, ctx: Context) -> None:
        async def load(keys: list[DatasetRunsPage]) -> Sequence[Page[domain.TrainingRun]]:
            groups: dict[tuple[int | None, str | None], list[uuid.UUID]] = {}
            for key in keys:
                groups.setdefault((key.first, key.after), []).append(key.dataset_id)
            pages: dict[DatasetRunsPage, Page[domain.TrainingRun]] = {}
            for (first, after), dataset_ids in groups.items():
                found = await run_resolvers.list_dataset_training_runs(
                    ctx=ctx,
                    dataset_ids=list(dict.fromkeys(dataset_ids)),
                    page=PageRequest(first=first, after=after),
                )
                pages |= {DatasetRunsPage(d, first, after): page for d, page in found.items()}
            return [pages[key] for key in keys]

        super().__init__(load_fn=load)


LoaderT = TypeVar("LoaderT", bound=DataLoader[Any, Any])


def loader(ctx: Context, cls: Callable[[Context], LoaderT]) -> LoaderT:
    """The request's instance of a loader class, created on first use."""
    key = getattr(cls, "__name__", repr(cls))
    if key not in ctx.loaders:
        ctx.loaders[key] = cls(ctx)
    found: LoaderT = ctx.loaders[key]
    return found
