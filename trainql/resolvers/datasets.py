"""Datasets: upload, read, list and set the training status."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from trainql.db import datasets as dataset_store
from trainql.db.engine import is_outage, retried_while_away
from trainql.db.pagination import Position
from trainql.domain import Dataset, DatasetTrainingStatus
from trainql.errors import InvalidInput, NotFound
from trainql.ml.uploads import AsyncReadable, remove_stored_file, store_csv_upload
from trainql.resolvers.context import Context
from trainql.resolvers.pagination import (
    CursorCodec,
    Page,
    PageRequest,
    datetime_from_json,
    datetime_to_json,
    keyset_result,
    uuid_id_from_json,
    window_for,
)
from trainql.resolvers.permissions import IS_AUTHENTICATED, require, require_dataset_access

logger = logging.getLogger(__name__)

DATASET_NOT_FOUND = "Dataset not found"
INVALID_TRAINING_STATUS = "training_status must be either 'trained' or 'not_trained'"
MAX_NAME_LENGTH = 255
# Cursors of the datasets list, ordered by (created_at, id).
CREATED_AT_CURSOR = CursorCodec(
    "CREATED_AT",
    datetime_to_json,
    datetime_from_json,
    id_to_json=str,
    id_from_json=uuid_id_from_json,
)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """The outcome of set_training_status, with the legacy success message."""

    dataset: Dataset

    @property
    def message(self) -> str:
        return f"Dataset training status updated to '{self.dataset.training_status.value}'"


def parse_dataset_id(raw: str | uuid.UUID) -> uuid.UUID:
    """A dataset id from a path or GraphQL; anything that is not a UUID is NotFound."""
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(raw)
    except (TypeError, ValueError):
        raise NotFound(DATASET_NOT_FOUND) from None


def parse_training_status(raw: object) -> DatasetTrainingStatus:
    """'trained' or 'not_trained' (or the enum); anything else, or nothing, is InvalidInput."""
    if isinstance(raw, DatasetTrainingStatus):
        return raw
    if isinstance(raw, str) and raw in {s.value for s in DatasetTrainingStatus}:
        return DatasetTrainingStatus(raw)
    raise InvalidInput(INVALID_TRAINING_STATUS)


def _validate_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH:
        message = f"name must be 1 to {MAX_NAME_LENGTH} characters, not blank."
        raise InvalidInput(message, fields={"name": [message]})
    return cleaned


async def create_dataset(*, ctx: Context, name: str, file: AsyncReadable) -> Dataset:
    """Store an uploaded CSV and record it; the caller (or nobody, when anonymous) owns it.

    The file is checked (UTF-8 CSV, header, at least one data row) and bounded by
    TRAINQL_MAX_UPLOAD_MB: DatasetInvalid or PayloadTooLarge otherwise, and nothing is kept.
    """
    cleaned = _validate_name(name)
    if not callable(getattr(file, "read", None)):
        # GraphQL's Upload takes whatever the multipart map put there, or a plain variable.
        message = "file must be a file part of the request (in GraphQL, mapped by `map`)."
        raise InvalidInput(message, fields={"file": [message]})
    dataset_id = uuid.uuid4()
    data_root = ctx.settings.data_location
    stored = await store_csv_upload(
        file,
        data_root=data_root,
        name=str(dataset_id),
        max_bytes=ctx.settings.max_upload_mb * 1024 * 1024,
    )
    inserted = False  # the INSERT went through: a failure from here on is the COMMIT's
    try:
        async with ctx.db.session() as session:
            dataset = await dataset_store.insert_dataset(
                session,
                dataset_id=dataset_id,
                name=cleaned,
                owner_id=ctx.user.id if ctx.user else None,
                file_path=stored.relative_path,
                row_count=stored.row_count,
                columns=stored.columns,
            )
            inserted = True
        return dataset
    except BaseException as exc:
        # The row is the record of the file: without it the file must not stay behind.
        if inserted and is_outage(exc):
            # The connection was lost at COMMIT, whose outcome is then unknown: the row may
            # be stored. Removing the file now could leave a row without its file, so it
            # stays until the database can say.
            ctx.services.upload_checks.spawn(
                remove_unless_recorded(ctx, dataset_id, stored.relative_path),
                name=f"upload check {dataset_id}",
            )
        else:
            await remove_stored_file(data_root, stored.relative_path)
        raise


async def remove_unless_recorded(ctx: Context, dataset_id: uuid.UUID, relative_path: str) -> None:
    """Remove an uploaded file whose row's COMMIT failed, once the database answers that the
    row is not there; keep it if the row is. Asks again while the database is away, for
    TRAINQL_RECORD_RETRY_S at most (then the file stays, and a warning says which)."""

    async def read() -> Dataset | None:
        async with ctx.db.session() as session:
            return await dataset_store.get_dataset(session, dataset_id=dataset_id)

    try:
        found = await retried_while_away(
            read, for_s=ctx.settings.record_retry_s, what=f"asking for dataset {dataset_id}"
        )
    except Exception as exc:
        if not is_outage(exc):
            logger.exception("Kept %s: reading dataset %s failed", relative_path, dataset_id)
        else:
            logger.warning(
                "Kept %s: whether dataset %s was recorded could not be read (%s)",
                relative_path,
                dataset_id,
                exc,
            )
        return
    if found is None:
        await remove_stored_file(ctx.settings.data_location, relative_path)


async def get_dataset(*, ctx: Context, dataset_id: str | uuid.UUID) -> Dataset:
    """One dataset, for its owner or, when it has none, for anyone."""
    async with ctx.db.session() as session:
        return await _accessible_dataset(ctx, session, parse_dataset_id(dataset_id), action="read")


async def _accessible_dataset(
    ctx: Context, session: AsyncSession, dataset_id: uuid.UUID, *, action: str
) -> Dataset:
    """The dataset, when it exists (NotFound) and the caller may `action` it."""
    dataset = await dataset_store.get_dataset(session, dataset_id=dataset_id)
    if dataset is None:
        raise NotFound(DATASET_NOT_FOUND)
    require_dataset_access(ctx, dataset, action=action)
    return dataset


async def set_training_status(
    *, ctx: Context, dataset_id: str | uuid.UUID, training_status: object
) -> StatusChange:
    """Mark a dataset trained or not trained (the legacy PATCH and setTrainingStatus).

    Checks in the legacy order: the value (InvalidInput), the dataset (NotFound, also for a
    malformed id), then ownership (anonymous on an owned dataset: AuthenticationError,
    another user: PermissionDenied). `updated_at` moves on every call.
    """
    status = parse_training_status(training_status)
    parsed = parse_dataset_id(dataset_id)
    async with ctx.db.session() as session:
        # Ownership never changes, so checking it before the update in the same
        # transaction is race-free.
        await _accessible_dataset(ctx, session, parsed, action="update")
        updated = await dataset_store.update_training_status(
            session, dataset_id=parsed, status=status
        )
    if updated is None:  # deleted between the read and the update
        raise NotFound(DATASET_NOT_FOUND)
    return StatusChange(dataset=updated)


async def list_datasets(
    *,
    ctx: Context,
    training_status: DatasetTrainingStatus | None = None,
    page: PageRequest | None = None,
) -> Page[Dataset]:
    """A cursor page of the authenticated caller's own datasets (with the status, when
    given), newest first with the id breaking ties; `page.first` / `page.last` are 1..100
    (default 20). The page's `count()` runs a COUNT only when awaited."""
    user = require(ctx, IS_AUTHENTICATED)
    window = window_for(page or PageRequest(), CREATED_AT_CURSOR)
    async with ctx.db.read() as conn:
        found = await dataset_store.list_owned_datasets(
            conn, owner_id=user.id, status=training_status, window=window
        )

    async def count() -> int:
        async with ctx.db.session() as session:
            return await dataset_store.count_owned_datasets(
                session, owner_id=user.id, status=training_status
            )

    return keyset_result(
        found,
        codec=CREATED_AT_CURSOR,
        position=lambda dataset: Position(key=dataset.created_at, id=dataset.id),
        count=count,
    )
