"""Storage locations: the same checks and atomic writes on a local directory and on S3."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import Factory
from tests.s3_support import S3Server
from tests.storage_support import app_client
from trainql.config import Settings
from trainql.ml.generator import generate_future_skills
from trainql.ml.model_store import load_model
from trainql.storage_root import (
    OutsideRoot,
    StorageRoot,
    kind_of,
    open_for_reading,
    put_file_atomically,
    remove,
    siblings,
    write_atomically,
)


def _roots(tmp_path: Path, bucket: str) -> dict[str, StorageRoot]:
    return {
        "plain": StorageRoot.of(tmp_path / "plain", setting="TRAINQL_DATA_ROOT"),
        "file": StorageRoot.of(f"file://{tmp_path / 'shared'}", setting="TRAINQL_DATA_ROOT"),
        "s3": StorageRoot.of(f"s3://{bucket}/prefix/", setting="TRAINQL_DATA_ROOT"),
    }


@pytest.fixture(params=["plain", "file", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> StorageRoot:
    if request.param == "s3":
        bucket = request.getfixturevalue("bucket")
        return _roots(tmp_path, bucket)["s3"]
    return _roots(tmp_path, "unused")[str(request.param)]


def test_children_stay_under_the_root(root: StorageRoot):
    # given / when
    inside = root.child("datasets/../ml/a.csv")
    # then
    assert inside == f"{root.location}/ml/a.csv"
    assert root.relative(inside) == "ml/a.csv"
    for escape in ("../a.csv", "ml/../../a.csv", "/etc/passwd", ""):
        with pytest.raises(OutsideRoot):
            root.child(escape)


def test_a_symbolic_link_out_of_a_local_root_is_refused(tmp_path: Path):
    root = StorageRoot.of(f"file://{tmp_path / 'root'}", setting="TRAINQL_DATA_ROOT")
    (tmp_path / "root").mkdir()
    (tmp_path / "secret.csv").write_text("a\n")
    (tmp_path / "root" / "link.csv").symlink_to(tmp_path / "secret.csv")
    with pytest.raises(OutsideRoot, match="leads outside TRAINQL_DATA_ROOT"):
        root.child("link.csv")


def test_a_write_is_all_or_nothing(root: StorageRoot):
    # given
    target = root.child("models/m.joblib")

    def half_then_fail(handle: object) -> None:
        handle.write(b"half a model")  # type: ignore[attr-defined]
        raise RuntimeError("the pickler broke")

    # when: a write fails half way
    with pytest.raises(RuntimeError, match="the pickler broke"):
        write_atomically(target, half_then_fail)
    # then: nothing is there, not even a temporary file
    assert kind_of(target) is None
    assert list(siblings(target, "*")) == []

    # when: a write completes
    write_atomically(target, lambda handle: handle.write(b"a whole model"))
    # then
    assert kind_of(target) == "file"
    with open_for_reading(target) as handle:
        assert handle.read() == b"a whole model"
    assert list(siblings(target, "*.joblib")) == [target]
    remove(target)
    remove(target)  # twice: nothing there is not an error
    assert kind_of(target) is None


def test_a_local_file_is_copied_in(root: StorageRoot, tmp_path: Path):
    source = tmp_path / "source.csv"
    source.write_bytes(b"a,b\n1,2\n")
    target = root.child("ml/data/copy.csv")
    put_file_atomically(source, target)
    assert kind_of(target) == "file"
    assert kind_of(root.child("ml/data")) == "directory"
    with open_for_reading(target) as handle:
        assert handle.read() == b"a,b\n1,2\n"


def test_plain_paths_and_file_urls_are_local_and_s3_is_not(tmp_path: Path, s3_server: S3Server):
    roots = _roots(tmp_path, "some-bucket")
    assert [r.is_local for r in roots.values()] == [True, True, False]
    assert [r.is_url for r in roots.values()] == [False, True, True]
    assert roots["file"].local_path() == (tmp_path / "shared").resolve()
    with pytest.raises(ValueError, match="is not a local directory"):
        roots["s3"].local_path()


async def test_the_service_keeps_datasets_and_models_on_s3(
    settings: Settings, s3_server: S3Server, bucket: str
):
    # given: the data root and the model directory on S3 (the local executor)
    on_s3 = settings.model_copy(
        update={"data_root": f"s3://{bucket}/data", "model_dir": f"s3://{bucket}/models"}
    )
    csv = generate_future_skills(300, seed=11).to_csv(index=False).encode()
    async with app_client(on_s3) as (http, services):
        hr = await Factory(services).hr_staff()
        # when: a dataset is uploaded, a bad one refused, and a model trained on the first
        uploaded = await http.post(
            "/ai/datasets",
            files={"file": ("skills.csv", csv, "text/csv")},
            data={"name": "skills"},
            headers=hr.headers,
        )
        refused = await http.post(
            "/ai/datasets",
            files={"file": ("bad.csv", b"\x00\x01binary", "text/csv")},
            data={"name": "bad"},
            headers=hr.headers,
        )
        escape = await http.post(
            "/api/training/train/", json={"dataset_path": "../x.csv"}, headers=hr.headers
        )
        trained = await http.post(
            "/api/training/train/",
            json={
                "dataset_id": uploaded.json()["id"],
                "model_version": "on-s3",
                "hyperparameters": {"n_estimators": 5},
            },
            headers=hr.headers,
        )
        run = (
            await http.get(
                f"/api/training/runs/{trained.json()['training_run_id']}/", headers=hr.headers
            )
        ).json()
    # then
    assert uploaded.status_code == 201, uploaded.text
    assert refused.status_code == 400
    assert escape.status_code == 400
    assert "leads outside the data root" in escape.json()["detail"]
    assert trained.status_code == 201, trained.text
    assert run["model_path"] == f"s3://{bucket}/models/on-s3.joblib"
    assert s3_server.keys(bucket) == [
        f"{bucket}/data/datasets/{uploaded.json()['id']}.csv",
        f"{bucket}/data/ml/data/future_skills_dataset.csv",
        f"{bucket}/models/on-s3.joblib",
    ]
    rows = generate_future_skills(5, seed=2).drop(columns=["future_need_level"])
    assert len(load_model(run["model_path"]).predict(rows)) == 5
