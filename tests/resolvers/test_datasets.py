"""The datasets list resolver: keyset walks over (created_at, id) with UUID ids, in both
directions, exact neighbours, and cursors of this order only."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import Factory
from trainql.db.models import DatasetRow
from trainql.domain import DatasetTrainingStatus
from trainql.errors import AuthenticationError, InvalidInput
from trainql.resolvers.context import Context
from trainql.resolvers.datasets import list_datasets
from trainql.resolvers.pagination import PageRequest
from trainql.services import Services

BASE = datetime(2025, 1, 1, tzinfo=UTC)


async def insert_datasets(
    services: Services, owner_id: int | None, created: list[datetime], status: str = "not_trained"
) -> list[DatasetRow]:
    """Dataset rows with the given creation times (ties allowed); returned newest first."""
    rows = [
        DatasetRow(
            name=f"d{i}",
            owner_id=owner_id,
            file_path=f"datasets/{owner_id}-{i}.csv",
            training_status=status,
            created_at=when,
            updated_at=when,
        )
        for i, when in enumerate(created)
    ]
    async with services.db.session() as session:
        session.add_all(rows)
    # The list's order, computed independently: created_at, then the UUID, both descending.
    return sorted(rows, key=lambda row: (row.created_at, row.id.hex), reverse=True)


def ties() -> list[datetime]:
    """Seven creation times, five of them equal, so the id decides most of the order."""
    return [BASE] * 5 + [BASE + timedelta(seconds=1), BASE - timedelta(seconds=1)]


async def test_forward_and_backward_walks_return_each_own_dataset_once_in_order(
    factory: Factory, services: Services
):
    # given: alice's seven datasets (mostly tied on created_at) among bob's and ownerless ones
    alice = await factory.account("alice")
    bob = await factory.account("bob")
    expected = [row.id for row in await insert_datasets(services, alice.user.id, ties())]
    await insert_datasets(services, bob.user.id, ties())
    await insert_datasets(services, None, ties())
    ctx = Context(services=services, user=alice.user)

    # when: forward, three at a time
    forward: list[uuid.UUID] = []
    after = None
    while True:
        page = await list_datasets(ctx=ctx, page=PageRequest(first=3, after=after))
        assert page.has_previous_page is bool(forward)
        forward += [dataset.id for dataset in page.items]
        if not page.has_next_page:
            break
        after = page.end_cursor

    # when: backward, three at a time
    backward: list[uuid.UUID] = []
    before = None
    while True:
        page = await list_datasets(ctx=ctx, page=PageRequest(last=3, before=before))
        assert page.has_next_page is bool(backward)
        backward = [dataset.id for dataset in page.items] + backward
        if not page.has_previous_page:
            break
        before = page.start_cursor

    # then
    assert forward == expected
    assert backward == expected
    assert await page.count() == 7


async def test_has_previous_page_is_exact_within_the_filtered_list(
    factory: Factory, services: Services
):
    # given: alice's newest dataset is not trained, the two older ones are
    alice = await factory.account("alice")
    trained = await insert_datasets(services, alice.user.id, [BASE, BASE], status="trained")
    newest = await insert_datasets(services, alice.user.id, [BASE + timedelta(seconds=1)])
    ctx = Context(services=services, user=alice.user)
    first = await list_datasets(ctx=ctx, page=PageRequest(first=1))
    assert [d.id for d in first.items] == [newest[0].id]

    # when: the newest one's cursor is used on the list of trained datasets
    page = await list_datasets(
        ctx=ctx,
        training_status=DatasetTrainingStatus.TRAINED,
        page=PageRequest(first=5, after=first.end_cursor),
    )

    # then: nothing of that list lies before the cursor
    assert [d.id for d in page.items] == [row.id for row in trained]
    assert page.has_previous_page is False
    assert page.has_next_page is False
    assert await page.count() == 2


def _forge(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


@pytest.mark.parametrize(
    ("cursor", "why"),
    [
        (
            _forge({"v": 1, "o": "RUN_DATE", "k": "2025-01-01T00:00:00+00:00", "i": 1}),
            "belongs to the order 'RUN_DATE'",
        ),
        (_forge({"v": 1, "o": "CREATED_AT", "k": "2025-01-01T00:00:00+00:00", "i": 1}), "issued"),
        (_forge({"v": 1, "o": "CREATED_AT", "k": "2025-01-01T00:00:00+00:00", "i": "x"}), "issued"),
        (
            _forge({"v": 1, "o": "CREATED_AT", "k": "2025-01-01T00:00:00", "i": str(uuid.uuid4())}),
            "issued",
        ),
        (_forge([BASE.isoformat(), str(uuid.uuid4())]), "issued"),
    ],
)
async def test_cursors_of_another_order_or_forged_are_invalid_input(
    factory: Factory, services: Services, cursor: str, why: str
):
    alice = await factory.account("alice")
    ctx = Context(services=services, user=alice.user)
    with pytest.raises(InvalidInput, match=why) as caught:
        await list_datasets(ctx=ctx, page=PageRequest(first=3, after=cursor))
    assert list(caught.value.fields) == ["after"]


async def test_listing_needs_authentication(services: Services):
    with pytest.raises(AuthenticationError):
        await list_datasets(ctx=Context(services=services))
