"""Test data, made through the same functions the service uses."""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from trainql.db import datasets as dataset_store
from trainql.db import training_runs as run_store
from trainql.db.models import DatasetRow, TrainingRunRow
from trainql.db.training_runs import class_metrics_json
from trainql.domain import ClassMetrics, Dataset, Role, TrainingRun, TrainingRunStatus, User
from trainql.resolvers.auth import issue_token
from trainql.resolvers.users import create_user
from trainql.services import Services

DEFAULT_PASSWORD = "correct-horse-battery"


@dataclass(frozen=True)
class Account:
    user: User
    token: str
    password: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Factory:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def account(
        self, username: str = "alice", *roles: Role, password: str = DEFAULT_PASSWORD
    ) -> Account:
        user = await create_user(
            db=self.services.db, username=username, password=password, roles=frozenset(roles)
        )
        return Account(
            user=user, token=await issue_token(self.services.db, user), password=password
        )

    async def hr_staff(self, username: str = "hr") -> Account:
        return await self.account(username, Role.HR_STAFF)

    async def manager(self, username: str = "boss") -> Account:
        return await self.account(username, Role.MANAGER)

    _versions = itertools.count(1)

    async def training_run(self, **overrides: Any) -> TrainingRun:
        """Insert a run row directly (no training), COMPLETED with plausible metrics."""
        n = next(self._versions)
        values: dict[str, Any] = {
            "run_date": datetime(2025, 11, 27, 16, 30, tzinfo=UTC) + timedelta(minutes=n),
            "model_version": f"v{n}",
            "model_path": f"models/v{n}.joblib",
            "dataset_path": "ml/data/future_skills_dataset.csv",
            "status": TrainingRunStatus.COMPLETED.value,
            "accuracy": 0.9,
            "precision": 0.91,
            "recall": 0.9,
            "f1_score": 0.905,
            "training_duration_seconds": 0.25,
            "total_samples": 357,
            "train_samples": 285,
            "test_samples": 72,
            "test_split": 0.2,
            "n_estimators": 100,
            "hyperparameters": {"n_estimators": 100, "max_depth": None, "min_samples_split": 2},
            "per_class_metrics": {
                "HIGH": class_metrics_json(ClassMetrics(1.0, 1.0, 1.0, 1.0, 24)),
                "MEDIUM": class_metrics_json(ClassMetrics(0.979, 0.96, 0.979, 0.97, 48)),
            },
            "features_used": ["job_role_name", "trend_score"],
            "feature_importances": {"trend_score": 0.7, "job_role_name": 0.3},
            "confusion_matrix": {"labels": ["HIGH", "MEDIUM"], "matrix": [[24, 0], [1, 47]]},
            "notes": "",
        }
        values.update(overrides)
        [run_id] = await self.training_runs([values])
        async with self.services.db.session() as session:
            found = await run_store.get_training_run(session, run_id=run_id)
        assert found is not None
        return found

    async def dataset(self, *, owner: Account | None = None, name: str = "skills") -> Dataset:
        """Insert a dataset row directly (no file), not trained."""
        dataset_id = uuid.uuid4()
        async with self.services.db.session() as session:
            return await dataset_store.insert_dataset(
                session,
                dataset_id=dataset_id,
                name=name,
                owner_id=owner.user.id if owner else None,
                file_path=f"datasets/{dataset_id}.csv",
                row_count=2,
                columns=["a", "b"],
            )

    async def training_runs(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert many run rows in one transaction (each dict overrides the defaults of
        `training_run`, without metrics tables); returns their ids in order."""
        defaults: dict[str, Any] = {
            "dataset_path": "ml/data/future_skills_dataset.csv",
            "test_split": 0.2,
            "n_estimators": 100,
            "hyperparameters": {"n_estimators": 100},
            "notes": "",
        }
        async with self.services.db.session() as session:
            made = [TrainingRunRow(**{**defaults, **_owned(row)}) for row in rows]
            session.add_all(made)
            await session.flush()
            ids = [row.id for row in made]
        assert all(i is not None for i in ids)
        return [i for i in ids if i is not None]

    async def dataset_row(self, name: str = "skills", owner_id: int | None = None) -> Any:
        """Insert a dataset row directly (no file); returns its id."""
        async with self.services.db.session() as session:
            row = DatasetRow(name=name, owner_id=owner_id, file_path=f"datasets/{name}.csv")
            session.add(row)
            await session.flush()
            return row.id


def _owned(row: dict[str, Any]) -> dict[str, Any]:
    """A run made by hand QUEUED or RUNNING has no execution behind it: give it a lease
    that outlives the test, so that the service's reconciler (which dispatches or retries
    runs nobody owns) leaves it to the test. Pass `lease_expires_at` to choose otherwise."""
    unfinished = {TrainingRunStatus.QUEUED.value, TrainingRunStatus.RUNNING.value}
    if row.get("status") in unfinished and "lease_expires_at" not in row:
        return {**row, "lease_expires_at": datetime.now(UTC) + timedelta(days=1)}
    return row


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST a GraphQL operation; returns the decoded body (asserting HTTP 200)."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


async def training_run_count(services: Services) -> int:
    """How many run rows exist (to show a rejected request recorded nothing)."""
    from sqlalchemy import func
    from sqlmodel import select

    from trainql.db.models import TrainingRunRow

    async with services.db.session() as session:
        return int((await session.exec(select(func.count()).select_from(TrainingRunRow))).one())


def model_files(services: Services) -> list[str]:
    """Every file in the model directory, temporary ones included."""
    root = services.settings.models_path
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


PREFLIGHT = {"Apollo-Require-Preflight": "true"}


async def graphql_upload(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any],
    files: dict[str, tuple[str, bytes]],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a GraphQL multipart request (operations, map, file parts) by hand, per the spec.

    `files` maps a variable path such as "variables.file" to (filename, content). Sends the
    Apollo-Require-Preflight header unless `headers` is given.
    """
    file_map = {str(i): [path] for i, path in enumerate(files)}
    parts: list[tuple[str, Any]] = [
        ("operations", (None, json.dumps({"query": query, "variables": variables}))),
        ("map", (None, json.dumps(file_map))),
    ]
    for i, (filename, content) in enumerate(files.values()):
        parts.append((str(i), (filename, content, "text/csv")))
    return await client.post(
        "/graphql", files=parts, headers=PREFLIGHT if headers is None else headers
    )
