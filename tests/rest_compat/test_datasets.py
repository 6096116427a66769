"""POST /ai/datasets and PATCH /ai/dataset/{id}/training-status, as the legacy clients call them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from tests.datasets_support import (
    REFUSED_UPLOADS,
    SKILLS_CSV,
    SmallLimitClient,
    chunked,
    chunked_headers,
    dataset_files,
    dataset_row_count,
    multipart_body,
    oversized_csv,
)
from tests.factories import Factory
from tests.live import live_server, settings_env
from tests.storage_support import FILLER, app_client, files_under, fill, make_read_only, small_tmpfs
from trainql.config import Settings
from trainql.db import datasets as dataset_store
from trainql.domain import Dataset
from trainql.services import Services

INVALID_STATUS = {"detail": "training_status must be either 'trained' or 'not_trained'"}
NOT_FOUND = {"detail": "Dataset not found"}
FORBIDDEN = {"detail": "You don't have permission to update this dataset"}


def status_url(dataset_id: object, slash: str = "") -> str:
    return f"/ai/dataset/{dataset_id}/training-status{slash}"


async def read_back(services: Services, dataset_id: uuid.UUID) -> Dataset:
    async with services.db.session() as session:
        found = await dataset_store.get_dataset(session, dataset_id=dataset_id)
    assert found is not None
    return found


# --- POST /ai/datasets


async def test_anonymous_upload_creates_an_ownerless_dataset(
    client: httpx.AsyncClient, settings: Settings
):
    # when
    response = await client.post(
        "/ai/datasets", data={"name": "skills"}, files={"file": ("skills.csv", SKILLS_CSV)}
    )
    # then
    assert response.status_code == 201, response.text
    body = response.json()
    dataset_id = uuid.UUID(body["id"])
    assert body["name"] == "skills"
    assert body["training_status"] == "not_trained"
    assert body["owner_id"] is None
    assert body["row_count"] == 2
    assert body["columns"] == ["job_role_name", "trend_score", "future_need_level"]
    assert body["file_path"] == f"datasets/{dataset_id}.csv"
    assert body["created_at"].endswith("Z")
    stored = Path(settings.data_path) / body["file_path"]
    assert stored.read_bytes() == SKILLS_CSV
    assert dataset_files(settings) == [f"{dataset_id}.csv"]


async def test_authenticated_upload_is_owned_by_the_caller(
    client: httpx.AsyncClient, factory: Factory
):
    alice = await factory.account("alice")
    response = await client.post(
        "/ai/datasets/",
        data={"name": "mine"},
        files={"file": ("mine.csv", SKILLS_CSV)},
        headers=alice.bearer,
    )
    assert response.status_code == 201, response.text
    assert response.json()["owner_id"] == alice.user.id


async def test_upload_with_a_bad_token_is_401(client: httpx.AsyncClient, settings: Settings):
    response = await client.post(
        "/ai/datasets",
        data={"name": "x"},
        files={"file": ("x.csv", SKILLS_CSV)},
        headers={"Authorization": "Token nope"},
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
    assert dataset_files(settings) == []


@pytest.mark.parametrize("kind", sorted(REFUSED_UPLOADS))
async def test_unusable_uploads_are_refused_and_leave_nothing(
    client: httpx.AsyncClient, services: Services, settings: Settings, kind: str
):
    content, message = REFUSED_UPLOADS[kind]
    response = await client.post(
        "/ai/datasets", data={"name": kind}, files={"file": (f"{kind}.csv", content)}
    )
    assert response.status_code == 400
    assert list(response.json()) == ["detail"]
    assert message in response.json()["detail"]
    assert dataset_files(settings) == []
    assert await dataset_row_count(services) == 0


@pytest.mark.parametrize(
    ("data", "files", "field"),
    [
        ({}, {"file": ("a.csv", SKILLS_CSV)}, "name"),
        ({"name": "x"}, None, "file"),
    ],
)
async def test_missing_upload_fields_are_400(
    client: httpx.AsyncClient,
    data: dict[str, str],
    files: dict[str, tuple[str, bytes]] | None,
    field: str,
):
    # A multipart body needs at least one part; send the name alone when there is no file.
    response = await client.post("/ai/datasets", data=data, files=files or {"other": ("o", b"")})
    assert response.status_code == 400
    assert field in response.json()["errors"]


async def test_blank_name_is_400(client: httpx.AsyncClient, settings: Settings):
    response = await client.post(
        "/ai/datasets", data={"name": "  "}, files={"file": ("a.csv", SKILLS_CSV)}
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"name": ["name must be 1 to 255 characters, not blank."]}
    assert dataset_files(settings) == []


async def test_upload_over_the_limit_is_413_with_a_content_length(settings: Settings):
    async with SmallLimitClient(settings) as (client, services):
        response = await client.post(
            "/ai/datasets",
            data={"name": "big"},
            files={"file": ("big.csv", oversized_csv(1.1))},
        )
        assert response.status_code == 413
        assert response.json() == {
            "detail": "The upload is larger than the limit of 1 MB (TRAINQL_MAX_UPLOAD_MB)."
        }
        assert dataset_files(settings) == []
        assert await dataset_row_count(services) == 0


async def test_upload_over_the_limit_is_413_while_streaming_without_a_content_length(
    settings: Settings,
):
    body = multipart_body({"name": "big"}, {"file": ("big.csv", oversized_csv(3))})
    async with SmallLimitClient(settings) as (client, services):
        response = await client.post(
            "/ai/datasets", content=chunked(body), headers=chunked_headers()
        )
        assert "content-length" not in response.request.headers
        assert response.status_code == 413
        assert "larger than the limit of 1 MB" in response.json()["detail"]
        assert dataset_files(settings) == []
        assert await dataset_row_count(services) == 0


async def test_upload_just_under_the_limit_is_accepted(settings: Settings):
    content = oversized_csv(0.95)
    assert len(content) < 1024 * 1024
    async with SmallLimitClient(settings) as (client, _services):
        response = await client.post(
            "/ai/datasets", data={"name": "fits"}, files={"file": ("fits.csv", content)}
        )
        assert response.status_code == 201, response.text


FULL_MESSAGE = (
    "Could not keep the uploaded dataset in the data root (TRAINQL_DATA_ROOT): there is no "
    "space left on its storage. Nothing was kept; free space (or make the storage writable) "
    "and try again."
)
READ_ONLY_MESSAGE = (
    "Could not keep the uploaded dataset in the data root (TRAINQL_DATA_ROOT): its storage "
    "is read-only. Nothing was kept; free space (or make the storage writable) and try again."
)


async def test_an_upload_larger_than_the_free_space_is_507_and_leaves_nothing(
    settings: Settings, tmp_path: Path
):
    # given: a data root with 3 MB in all, the default dataset placed, ~1 MB left free
    with small_tmpfs(tmp_path / "small") as data_root:
        async with app_client(settings.model_copy(update={"data_root": data_root})) as (
            client,
            services,
        ):
            fill(data_root, leave_kb=1024)
            before = files_under(data_root)
            # when: a 4 MB upload (well under TRAINQL_MAX_UPLOAD_MB)
            response = await client.post(
                "/ai/datasets", data={"name": "big"}, files={"file": ("big.csv", oversized_csv(4))}
            )
            # then: 507 saying why, and no file and no row
            assert response.status_code == 507, response.text
            assert response.json() == {"detail": FULL_MESSAGE}
            assert files_under(data_root) == before
            assert await dataset_row_count(services) == 0
            # and once there is room again, the same upload works
            (data_root / FILLER).unlink()
            retried = await client.post(
                "/ai/datasets", data={"name": "big"}, files={"file": ("big.csv", oversized_csv(1))}
            )
            assert retried.status_code == 201, retried.text


async def test_an_upload_onto_a_read_only_data_root_is_507_and_leaves_nothing(
    settings: Settings, tmp_path: Path
):
    with small_tmpfs(tmp_path / "small") as data_root:
        async with app_client(settings.model_copy(update={"data_root": data_root})) as (
            client,
            services,
        ):
            make_read_only(data_root)
            before = files_under(data_root)
            response = await client.post(
                "/ai/datasets", data={"name": "skills"}, files={"file": ("s.csv", SKILLS_CSV)}
            )
            assert response.status_code == 507, response.text
            assert response.json() == {"detail": READ_ONLY_MESSAGE}
            assert files_under(data_root) == before
            assert await dataset_row_count(services) == 0


# --- PATCH /ai/dataset/{id}/training-status


@pytest.mark.parametrize("slash", ["", "/"])
@pytest.mark.parametrize("encoding", ["multipart", "urlencoded", "json"])
async def test_patch_answers_the_documented_body(
    client: httpx.AsyncClient, factory: Factory, services: Services, slash: str, encoding: str
):
    # given
    dataset = await factory.dataset()
    url = status_url(dataset.id, slash)
    # when
    if encoding == "multipart":
        response = await client.patch(url, files={"training_status": (None, "trained")})
    elif encoding == "urlencoded":
        response = await client.patch(url, data={"training_status": "trained"})
    else:
        response = await client.patch(url, json={"training_status": "trained"})
    # then
    assert response.status_code == 200, response.text
    assert response.json() == {
        "success": True,
        "dataset_id": str(dataset.id),
        "training_status": "trained",
        "message": "Dataset training status updated to 'trained'",
    }
    stored = await read_back(services, dataset.id)
    assert stored.training_status.value == "trained"
    assert stored.updated_at > dataset.updated_at


async def test_patch_moves_updated_at_on_every_change(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    dataset = await factory.dataset()
    stamps = [dataset.updated_at]
    for value in ("not_trained", "trained", "trained"):
        response = await client.patch(status_url(dataset.id), data={"training_status": value})
        assert response.status_code == 200
        assert response.json()["message"] == f"Dataset training status updated to '{value}'"
        stamps.append((await read_back(services, dataset.id)).updated_at)
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


@pytest.mark.parametrize(
    "data", [{"training_status": "done"}, {"training_status": ""}, {}, {"status": "trained"}]
)
async def test_patch_with_a_missing_or_invalid_value_is_400(
    client: httpx.AsyncClient, factory: Factory, data: dict[str, str]
):
    dataset = await factory.dataset()
    response = await client.patch(status_url(dataset.id), data=data)
    assert response.status_code == 400
    assert response.json() == INVALID_STATUS


async def test_patch_without_a_body_is_400(client: httpx.AsyncClient, factory: Factory):
    dataset = await factory.dataset()
    response = await client.patch(status_url(dataset.id))
    assert response.status_code == 400
    assert response.json() == INVALID_STATUS


@pytest.mark.parametrize("dataset_id", [str(uuid.uuid4()), "not-a-uuid", "123"])
async def test_patch_on_an_unknown_or_malformed_id_is_404(
    client: httpx.AsyncClient, dataset_id: str
):
    response = await client.patch(status_url(dataset_id), data={"training_status": "trained"})
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


async def test_owner_may_patch_their_dataset(client: httpx.AsyncClient, factory: Factory):
    alice = await factory.account("alice")
    dataset = await factory.dataset(owner=alice)
    for headers in (alice.headers, alice.bearer):
        response = await client.patch(
            status_url(dataset.id), data={"training_status": "trained"}, headers=headers
        )
        assert response.status_code == 200


async def test_anonymous_patch_on_an_owned_dataset_is_401(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    alice = await factory.account("alice")
    dataset = await factory.dataset(owner=alice)
    response = await client.patch(status_url(dataset.id), data={"training_status": "trained"})
    assert response.status_code == 401
    assert "credentials were not provided" in response.json()["detail"]
    assert (await read_back(services, dataset.id)).training_status.value == "not_trained"


async def test_another_users_patch_is_403(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    alice = await factory.account("alice")
    bob = await factory.account("bob")
    dataset = await factory.dataset(owner=alice)
    response = await client.patch(
        status_url(dataset.id), data={"training_status": "trained"}, headers=bob.bearer
    )
    assert response.status_code == 403
    assert response.json() == FORBIDDEN
    assert (await read_back(services, dataset.id)).training_status.value == "not_trained"


async def test_authenticated_user_may_patch_an_ownerless_dataset(
    client: httpx.AsyncClient, factory: Factory
):
    bob = await factory.account("bob")
    dataset = await factory.dataset()
    response = await client.patch(
        status_url(dataset.id), data={"training_status": "trained"}, headers=bob.headers
    )
    assert response.status_code == 200


async def test_patch_with_a_bad_token_is_401(client: httpx.AsyncClient, factory: Factory):
    dataset = await factory.dataset()
    for header in ("Bearer wrong", "Basic abc"):
        response = await client.patch(
            status_url(dataset.id),
            data={"training_status": "trained"},
            headers={"Authorization": header},
        )
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Token"


async def test_concurrent_patches_leave_a_consistent_row(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: 20 clients alternating the two values on one dataset
    dataset = await factory.dataset()
    values = ["trained" if i % 2 else "not_trained" for i in range(20)]
    observed: list[Dataset] = []

    async def patch(value: str) -> httpx.Response:
        response = await client.patch(status_url(dataset.id), data={"training_status": value})
        # What the row holds right after this write committed (this write or a later one).
        observed.append(await read_back(services, dataset.id))
        return response

    # when
    responses = await asyncio.gather(*(patch(v) for v in values))
    # then: no error, every write acknowledged, and the row is the newest state anyone saw
    assert [r.status_code for r in responses] == [200] * 20
    assert sorted(r.json()["training_status"] for r in responses) == sorted(values)
    final = await read_back(services, dataset.id)
    newest = max(observed, key=lambda d: d.updated_at)
    assert (final.training_status, final.updated_at) == (newest.training_status, newest.updated_at)
    assert final.updated_at > dataset.updated_at


@pytest.mark.slow
async def test_documented_answers_and_concurrent_clients_through_a_live_server(
    database_url: str, settings: Settings, factory: Factory, tmp_path: Path
):
    # given: two users, and `trainql serve` on the same database
    alice = await factory.account("alice")
    bob = await factory.account("bob")
    env = settings_env(database_url=database_url, state_dir=Path(settings.state_dir))
    with live_server(env, log_path=tmp_path / "serve.log") as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            created = await http.post(
                "/ai/datasets",
                data={"name": "alice's"},
                files={"file": ("a.csv", SKILLS_CSV)},
                headers=alice.bearer,
            )
            assert created.status_code == 201
            owned = created.json()["id"]
            url = status_url(owned)
            answers = [
                (await http.patch(url, data={"training_status": "trained"}, headers=h))
                for h in (alice.bearer, {}, bob.bearer, {"Authorization": "Bearer nope"})
            ]
            assert [a.status_code for a in answers] == [200, 401, 403, 401]
            assert answers[0].json() == {
                "success": True,
                "dataset_id": owned,
                "training_status": "trained",
                "message": "Dataset training status updated to 'trained'",
            }
            assert answers[2].json() == FORBIDDEN
            invalid = await http.patch(url, data={"training_status": "x"}, headers=alice.bearer)
            assert (invalid.status_code, invalid.json()) == (400, INVALID_STATUS)
            missing = await http.patch(
                status_url(uuid.uuid4()), data={"training_status": "trained"}
            )
            assert (missing.status_code, missing.json()) == (404, NOT_FOUND)

        # when: 20 separate clients (own connections) PATCH concurrently
        values = ["trained" if i % 2 else "not_trained" for i in range(20)]

        async def one_client(value: str) -> httpx.Response:
            async with httpx.AsyncClient(base_url=server.base_url) as own:
                return await own.patch(
                    url, files={"training_status": (None, value)}, headers=alice.headers
                )

        responses = await asyncio.gather(*(one_client(v) for v in values))
        # then
        assert [r.status_code for r in responses] == [200] * 20
        assert "database is locked" not in server.output()
    final = await read_back(factory.services, uuid.UUID(owned))
    assert final.training_status.value in values
