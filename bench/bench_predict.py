"""Predictions: trainql (GraphQL, REST, and REST with a CSV file for batches) against
`mlflow models serve` on the same pipelines.

    .venv/bin/python -m bench.bench_predict    # ~16 min at load 6 (+3 min for MLflow's venv)
        [--quick] [--no-peer] [--backend sqlite|postgresql] [--rounds 5] [--requests 200]
        [--warmup 50] [--batch-rows 10000] [--batch-requests 5] [--big-rows 1000000]
        [--big-trees 20] [--big-depth 12] [--client httpx|stdlib] [--max-body-kb N]
        [--pg-server URL] [--out FILE]

Two models, both trained by a live `trainql serve` (one uvicorn worker, SQLite in a temporary
directory or a PostgreSQL database of its own) through `POST /api/training/train/`:

- `default-100`: 100 trees on the default dataset (357 rows);
- `rows-1M`: `--big-trees` trees of depth `--big-depth` on `--big-rows` generated rows
  (trainql/ml/generator.py, seed 42; a file under the server's data root).

The peer serves THE SAME fitted pipelines: in the bench-only MLflow venv
(bench/mlflow_env.py) the joblib file trainql wrote is loaded and saved with
`mlflow.sklearn.save_model` (a signature inferred from the rows, `predict_proba` as the
pyfunc's method, so the peer answers every class's probability as trainql does), then served
by `mlflow models serve --env-manager local -w 1`, one server per model. The bare baseline is
the same joblib file loaded in this process, `predict_proba` on a DataFrame.

Before timing, every target's probabilities for the same rows are compared with the bare
pipeline's (the largest difference is reported; labels must match except on near-ties).
Then, in order:

- memory: the trainql server's VmRSS before and after the first prediction of each model
  (and that first, cold request's time), and the model's ONNX size as trainql's serving code
  converts it (what its model cache counts);
- warm-up: `--warmup` one-row requests and one batch per target and model;
- `--rounds` rounds; in each, first GraphQL `{ me }` (`--requests` times: the floor of an
  authenticated request on this server), then per model the targets in an order rotated
  from round to round: `--requests` one-row requests on one keep-alive connection (rows
  cycled from a fixed set of 20), then `--batch-requests` requests of `--batch-rows` rows
  each (and as many bare `predict_proba` calls). The `csv` target, the REST route with the
  rows as a multipart CSV file (answered as CSV), is measured on batches only.

Reported: one-row p50 and p99 over all rounds' samples (and each round's p50), MLflow's p50
over trainql's, batch rows/s (median request) against bare predict_proba, memory; a batch a
target refuses (a 4xx, such as GraphQL's body over TRAINQL_MAX_BODY_KB) is reported as
refused. JSON goes to bench/results/predict-<stamp>.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import joblib
import numpy as np
import pandas as pd
import sklearn

from bench.bench_mlflow_peer import tree_rss_mb
from bench.bench_training import status_kb
from bench.databases import drop_postgres, fresh_trainql_database
from bench.load import Client, Request, percentile
from bench.mlflow_env import mlflow_venv, mlflow_version, server_process
from tests.datasets_support import chunked_headers, multipart_body
from tests.live import free_port, live_server, settings_env
from trainql.constants import DEFAULT_DATASET_PATH, DEFAULT_TARGET_COLUMN
from trainql.ml.generator import generate_future_skills, write_future_skills_csv
from trainql.ml.serving import convert_pipeline
from trainql.ml.training import fitted_input_schema

RESULTS = Path(__file__).with_name("results")
DATABASE = "trainql_bench_predict"
PASSWORD = "bench-password-123"
TARGETS = ("graphql", "rest", "csv", "mlflow")
# Targets measured on batches only: a one-row CSV upload is not how that route is used.
BATCH_ONLY = ("csv",)
FLOOR = "(me)"  # the floor's row in the table: no model
ROW_SET = 20  # distinct rows the one-row requests cycle through
CHECK_ROWS = 200
# Probabilities of the served model against the bare pipeline: float32 trees (ONNX) sum to
# within about 1e-6 of scikit-learn's float64; anything past this is a wrong answer.
TOLERANCE = 1e-4
GRAPHQL_PREDICT = """query Predict($input: PredictInput!) {
  predict(input: $input) {
    trainingRun { id modelVersion }
    predictions { label probabilities { label probability } }
  }
}"""
# Run in the MLflow venv: the joblib file trainql wrote, saved as an MLflow model.
SAVE_FOR_MLFLOW = """
import json, sys
import joblib, pandas as pd, sklearn
import mlflow.sklearn
from mlflow.models import infer_signature

model_path, out_dir, rows_path = sys.argv[1:4]
pipeline = joblib.load(model_path)
example = pd.DataFrame.from_records(json.loads(open(rows_path).read()))
signature = infer_signature(example, pipeline.predict_proba(example))
mlflow.sklearn.save_model(
    pipeline,
    out_dir,
    signature=signature,
    pyfunc_predict_fn="predict_proba",
    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
    # MLflow's default format (skops) refuses these unless named: trainql wrote the file.
    skops_trusted_types=["numpy.dtype", "sklearn.tree._tree.Tree"],
)
print(json.dumps({"classes": [str(c) for c in pipeline.classes_]}))
"""


# Models --------------------------------------------------------------------------------------


@dataclass
class Model:
    name: str
    rows: int  # training table, before the split
    hyperparameters: dict[str, Any]
    run_id: int = 0
    model_version: str = ""
    model_path: str = ""
    file_mb: float = 0.0
    training_seconds: float = 0.0
    classes: list[str] = field(default_factory=list)


def train(http: httpx.Client, model: Model, dataset_path: str) -> None:
    """Train `model` through trainql's REST route; fills in its run, file and classes."""
    started = time.perf_counter()
    response = http.post(
        "/api/training/train/",
        json={"dataset_path": dataset_path, "hyperparameters": model.hyperparameters},
        timeout=3600,
    )
    model.training_seconds = round(time.perf_counter() - started, 2)
    if response.status_code != 201:
        raise RuntimeError(f"training {model.name}: HTTP {response.status_code}: {response.text}")
    model.run_id = int(response.json()["training_run_id"])
    detail = http.get(f"/api/training/runs/{model.run_id}/").json()
    model.model_version = detail["model_version"]
    model.model_path = str(detail["model_path"]).removeprefix("file://")
    model.file_mb = round(Path(model.model_path).stat().st_size / 2**20, 2)


def short(n: int) -> str:
    """1000000 as 1M, 5000 as 5k."""
    for size, unit in ((1_000_000, "M"), (1_000, "k")):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def feature_rows(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` rows of the default table's features (no target), as JSON would carry them."""
    frame = generate_future_skills(count, seed=seed).drop(columns=[DEFAULT_TARGET_COLUMN])
    rows: list[dict[str, Any]] = json.loads(frame.to_json(orient="records"))
    return rows


# Clients -------------------------------------------------------------------------------------


class Sender(Protocol):
    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]: ...

    def close(self) -> None: ...


class HttpxSender:
    """httpx.Client: one keep-alive connection."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=120)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        response = self.client.post(path, content=body, headers=headers)
        return response.status_code, response.content

    def close(self) -> None:
        self.client.close()


class StdlibSender:
    """bench/load.py's http.client keep-alive client (cheaper per request than httpx)."""

    def __init__(self, base_url: str) -> None:
        self.client = Client(base_url, fresh=False, timeout=120)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        return self.client.send(Request("POST", path, body, tuple(headers.items())))

    def close(self) -> None:
        self.client.close()


SENDERS: dict[str, Callable[[str], Sender]] = {"httpx": HttpxSender, "stdlib": StdlibSender}


@dataclass
class Call:
    """How one target is asked for predictions of some rows, and how its answer reads:
    labels, and each row's probabilities in `classes` order."""

    base_url: str
    path: str
    headers: dict[str, str]
    encode: Callable[[list[dict[str, Any]]], bytes]
    decode: Callable[[Any], tuple[list[str], list[list[float]]]]
    parse: Callable[[bytes], Any] = json.loads  # the answer's bytes to what `decode` reads


def floor_call(base_url: str, token: str) -> Call:
    """GraphQL `{ me { username } }`: an authenticated request that predicts nothing, the
    floor under a prediction's time on this server and machine."""

    def answer(body: Any) -> tuple[list[str], list[list[float]]]:
        if body.get("errors") or not body["data"]["me"]:
            raise RuntimeError(f"me: {body}")
        return [], []

    return Call(
        base_url,
        "/graphql",
        {"Authorization": f"Token {token}", "Content-Type": "application/json"},
        lambda rows: json.dumps({"query": "{ me { username } }"}).encode(),
        answer,
    )


def trainql_calls(base_url: str, token: str, model: Model) -> dict[str, Call]:
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    classes = model.classes

    def graphql_body(rows: list[dict[str, Any]]) -> bytes:
        variables = {"input": {"trainingRunId": str(model.run_id), "rows": rows}}
        return json.dumps({"query": GRAPHQL_PREDICT, "variables": variables}).encode()

    def graphql_answer(body: Any) -> tuple[list[str], list[list[float]]]:
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        predictions = body["data"]["predict"]["predictions"]
        probabilities = []
        for p in predictions:
            by_class = {c["label"]: c["probability"] for c in p["probabilities"]}
            probabilities.append([by_class[c] for c in classes])
        return [p["label"] for p in predictions], probabilities

    def rest_answer(body: Any) -> tuple[list[str], list[list[float]]]:
        predictions = body["predictions"]
        return [p["label"] for p in predictions], [
            [p["probabilities"][c] for c in classes] for p in predictions
        ]

    def csv_body(rows: list[dict[str, Any]]) -> bytes:
        text: bytes = pd.DataFrame.from_records(rows).to_csv(index=False).encode()
        return multipart_body({}, {"file": ("rows.csv", text)})

    def csv_answer(body: bytes) -> tuple[list[str], list[list[float]]]:
        frame = pd.read_csv(io.BytesIO(body))
        (predicted,) = [c for c in frame.columns if c.startswith("predicted_")]
        probabilities = frame[[f"probability_{c}" for c in classes]].to_numpy().tolist()
        return [str(label) for label in frame[predicted]], probabilities

    csv_headers = chunked_headers({"Authorization": headers["Authorization"]})
    return {
        "graphql": Call(base_url, "/graphql", headers, graphql_body, graphql_answer),
        "csv": Call(
            base_url,
            f"/api/training/runs/{model.run_id}/predict/",
            csv_headers,
            csv_body,
            csv_answer,
            parse=bytes,  # CSV text, read by csv_answer
        ),
        "rest": Call(
            base_url,
            f"/api/training/runs/{model.run_id}/predict/",
            headers,
            lambda rows: json.dumps({"rows": rows}).encode(),
            rest_answer,
        ),
    }


def mlflow_call(base_url: str, model: Model, columns: list[str]) -> Call:
    """`/invocations` with `dataframe_split` (MLflow's most compact input); the pyfunc
    answers predict_proba's rows, in the pipeline's class order."""

    def body(rows: list[dict[str, Any]]) -> bytes:
        split = {"columns": columns, "data": [[row[c] for c in columns] for row in rows]}
        return json.dumps({"dataframe_split": split}).encode()

    def answer(body: Any) -> tuple[list[str], list[list[float]]]:
        probabilities = [[float(p) for p in row] for row in body["predictions"]]
        labels = [model.classes[int(np.argmax(row))] for row in probabilities]
        return labels, probabilities

    return Call(base_url, "/invocations", {"Content-Type": "application/json"}, body, answer)


class Refused(RuntimeError):
    """A target answered a request with a 4xx: a limit or a missing feature, reported as a
    result (batch sizes a server refuses) rather than ending the bench."""


def ask(sender: Sender, call: Call, body: bytes) -> tuple[float, Any]:
    """Seconds one request takes (its whole answer read), and the decoded answer."""
    started = time.perf_counter()
    status, answer = sender.post(call.path, body, call.headers)
    elapsed = time.perf_counter() - started
    if 400 <= status < 500:
        raise Refused(f"HTTP {status}: {answer[:300].decode(errors='replace')}")
    if status != 200:
        raise RuntimeError(f"POST {call.path}: HTTP {status}: {answer[:300]!r}")
    return elapsed, call.parse(answer)


# The peer ------------------------------------------------------------------------------------


def save_for_mlflow(bin_dir: Path, model: Model, out_dir: Path, rows_path: Path) -> None:
    script = [str(bin_dir / "python"), "-c", SAVE_FOR_MLFLOW]
    done = subprocess.run(
        [*script, model.model_path, str(out_dir), str(rows_path)],
        capture_output=True,
        text=True,
        cwd=out_dir.parent,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"saving {model.name} for MLflow failed:\n{done.stderr}")
    classes = json.loads(done.stdout.strip().splitlines()[-1])["classes"]
    if classes != model.classes:
        raise AssertionError(f"{model.name}: MLflow's venv reads classes {classes}")


@contextmanager
def mlflow_models_serve(
    bin_dir: Path, model_dir: Path, log_path: Path
) -> Iterator[tuple[str, int]]:
    """`mlflow models serve` of one saved model, one worker; its base URL and pid."""
    port = free_port()
    command = [
        str(bin_dir / "mlflow"), "models", "serve", "-m", str(model_dir), "--env-manager",
        "local", "-p", str(port), "--host", "127.0.0.1", "-w", "1",
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    # It runs `uvicorn` from PATH: the venv's, as if it were activated.
    path = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    with server_process(
        command,
        f"{base}/ping",
        log_path,
        what="mlflow models serve",
        cwd=model_dir.parent,
        env=path,
    ) as process:
        yield base, process.pid


# Measuring -----------------------------------------------------------------------------------


def check_answers(
    calls: dict[str, Call],
    sender: Callable[[str], Sender],
    model: Model,
    rows: list[dict[str, Any]],
    expected: np.ndarray,
) -> dict[str, float]:
    """Every target's labels and probabilities for `rows` against the bare pipeline's
    `expected` probabilities; the largest difference per target."""
    differences = {}
    top_two = np.sort(expected, axis=1)[:, -2:]
    near_tie = (top_two[:, 1] - top_two[:, 0]) <= TOLERANCE
    expected_labels = [model.classes[i] for i in np.argmax(expected, axis=1)]
    for target, call in calls.items():
        client = sender(call.base_url)
        try:
            _, body = ask(client, call, call.encode(rows))
        finally:
            client.close()
        labels, probabilities = call.decode(body)
        got = np.asarray(probabilities, dtype=float)
        if got.shape != expected.shape:
            raise AssertionError(
                f"{model.name} {target}: {got.shape} probabilities, not {expected.shape}"
            )
        difference = float(np.max(np.abs(got - expected)))
        pairs = enumerate(zip(labels, expected_labels, strict=True))
        wrong = [i for i, (a, b) in pairs if a != b and not near_tie[i]]
        if difference > TOLERANCE or wrong:
            raise AssertionError(
                f"{model.name} {target}: answers differ from predict_proba (largest "
                f"probability difference {difference:.2e}, labels differ in rows {wrong[:10]})"
            )
        differences[target] = difference
    return differences


def onnx_mb(pipeline: Any) -> float:
    """The size of the pipeline's ONNX form, as trainql's serving code converts it: what the
    server's model cache counts for it (the predict API does not expose the cache's count)."""
    columns = {name: list(cols) for name, _, cols in pipeline.named_steps["encode"].transformers_}
    schema = fitted_input_schema(
        pipeline, categorical=columns.get("categorical", []), numeric=columns.get("numeric", [])
    )
    return round(len(convert_pipeline(pipeline, schema, display="bench")) / 2**20, 2)


def rss_mb(pid: int) -> float:
    return round(status_kb(pid, "VmRSS") / 1024, 1)


@dataclass
class Series:
    model: str
    target: str
    kind: str  # one-row, batch
    samples_ms: list[list[float]] = field(default_factory=list)  # per round
    refused: str | None = None  # why the target refused the request, if it did

    def flat(self) -> list[float]:
        return [s for r in self.samples_ms for s in r]

    def summary(self, batch_rows: int) -> dict[str, Any]:
        if self.refused is not None:
            return {**asdict(self), "samples_ms": [], "rows": batch_rows}
        flat = self.flat()
        out: dict[str, Any] = {
            "model": self.model,
            "target": self.target,
            "kind": self.kind,
            "requests": len(flat),
            "p50_ms": round(statistics.median(flat), 3),
            "p99_ms": round(percentile(flat, 0.99), 3),
            "round_p50_ms": [round(statistics.median(r), 3) for r in self.samples_ms],
        }
        if self.kind == "batch":
            out["rows"] = batch_rows
            out["rows_per_s"] = round(batch_rows / (out["p50_ms"] / 1000))
        return out


def repeat(client: Sender, call: Call, body: bytes, count: int) -> list[float]:
    """Milliseconds of `count` requests on one connection (after an untimed first one)."""
    try:
        ask(client, call, body)
        return [ask(client, call, body)[0] * 1000 for _ in range(count)]
    finally:
        client.close()


def bare_batches(pipeline: Any, frame: pd.DataFrame, count: int) -> list[float]:
    """Milliseconds of `count` in-process predict_proba calls on `frame`."""
    out = []
    for _ in range(count):
        started = time.perf_counter()
        pipeline.predict_proba(frame)
        out.append((time.perf_counter() - started) * 1000)
    return out


def refusal(request: Callable[[], object]) -> str | None:
    """Why `request` was refused (a 4xx), or None when it was answered."""
    try:
        request()
    except Refused as exc:
        return str(exc)
    return None


def measure(
    *,
    models: list[Model],
    calls: dict[str, dict[str, Call]],
    frames: dict[str, Any],
    args: argparse.Namespace,
    one_rows: list[dict[str, Any]],
    batch: list[dict[str, Any]],
    floor: Call,
) -> list[Series]:
    sender = SENDERS[args.client]
    series: dict[tuple[str, str, str], Series] = {}

    def add(model: str, target: str, kind: str, samples: list[float]) -> None:
        key = (model, target, kind)
        series.setdefault(key, Series(model, target, kind)).samples_ms.append(samples)

    targets = [t for t in TARGETS if any(t in c for c in calls.values())]
    one_row_targets = [t for t in targets if t not in BATCH_ONLY]
    one_bodies = {
        (m.name, t): [calls[m.name][t].encode([row]) for row in one_rows]
        for m in models
        for t in one_row_targets
    }
    batch_bodies = {(m.name, t): calls[m.name][t].encode(batch) for m in models for t in targets}
    batch_frame = pd.DataFrame.from_records(batch)

    def one_row(model: Model, target: str, count: int) -> list[float]:
        call = calls[model.name][target]
        client = sender(call.base_url)
        bodies = one_bodies[(model.name, target)]
        try:
            ask(client, call, bodies[0])  # the connection, untimed
            return [ask(client, call, bodies[i % len(bodies)])[0] * 1000 for i in range(count)]
        finally:
            client.close()

    def batches(model: Model, target: str, count: int) -> list[float]:
        if target == "bare":
            return bare_batches(frames[model.name], batch_frame, count)
        call = calls[model.name][target]
        client = sender(call.base_url)
        try:
            body = batch_bodies[(model.name, target)]
            return [ask(client, call, body)[0] * 1000 for _ in range(count)]
        finally:
            client.close()

    print(f"warm-up: {args.warmup} one-row requests and one batch per target and model", flush=True)
    for model in models:
        for target in one_row_targets:
            one_row(model, target, args.warmup)
        for target in targets:
            refused = refusal(lambda: batches(model, target, 1))  # noqa: B023 (called now)
            if refused is not None:
                series[(model.name, target, "batch")] = Series(
                    model.name, target, "batch", [], refused
                )
                print(f"  {model.name} {target}: {len(batch)} rows refused: {refused}", flush=True)
        batches(model, "bare", 1)
    for round_index in range(args.rounds):
        shift = round_index % len(targets)
        order = targets[shift:] + targets[:shift]
        print(f"round {round_index + 1}/{args.rounds} (order {', '.join(order)})", flush=True)
        samples = repeat(sender(floor.base_url), floor, floor.encode([]), args.requests)
        add(FLOOR, "graphql", "one-row", samples)
        print(f"  {FLOOR:<12} graphql  p50 {statistics.median(samples):7.2f} ms", flush=True)
        for model in models:
            for target in [t for t in order if t in one_row_targets]:
                samples = one_row(model, target, args.requests)
                add(model.name, target, "one-row", samples)
                print(
                    f"  {model.name:<12} {target:<8} one row p50 {statistics.median(samples):7.2f}"
                    f" ms p99 {percentile(samples, 0.99):7.2f} ms",
                    flush=True,
                )
            for target in [*order, "bare"]:
                if getattr(series.get((model.name, target, "batch")), "refused", None):
                    continue
                samples = batches(model, target, args.batch_requests)
                add(model.name, target, "batch", samples)
                rate = len(batch) / (statistics.median(samples) / 1000)
                print(f"  {model.name:<12} {target:<8} {len(batch)} rows {rate:12,.0f} rows/s")
    return list(series.values())


# Report --------------------------------------------------------------------------------------


def goal(
    model: Model, target: str, what: str, value: float, bound: float, *, below: bool = False
) -> dict[str, Any]:
    met = value <= bound if below else value >= bound
    return {"model": model.name, "target": target, "goal": what, "value": value, "met": met}


def verdicts(summaries: list[dict[str, Any]], models: list[Model]) -> list[dict[str, Any]]:
    by = {(s["model"], s["target"], s["kind"]): s for s in summaries}
    out = []
    for model in models:
        for target in ("graphql", "rest", "csv"):
            one = by.get((model.name, target, "one-row"))
            peer = by.get((model.name, "mlflow", "one-row"))
            if one is not None:
                p50 = one["p50_ms"]
                out.append(goal(model, target, "one row p50 <= 3 ms", p50, 3.0, below=True))
            if one is not None and peer is not None:
                times = round(peer["p50_ms"] / one["p50_ms"], 2)
                out.append(
                    goal(model, target, "one row >= 5x faster than MLflow (p50)", times, 5.0)
                )
            batch = by.get((model.name, target, "batch"))
            bare = by.get((model.name, "bare", "batch"))
            if batch is not None and bare is not None:
                what = f"{batch['rows']} rows >= 0.8x bare predict_proba (rows/s)"
                if batch.get("refused"):
                    refused = goal(model, target, what, 0.0, 0.8)
                    out.append({**refused, "value": None, "refused": batch["refused"]})
                    continue
                ratio = round(batch["rows_per_s"] / bare["rows_per_s"], 3)
                out.append(goal(model, target, what, ratio, 0.8))
    return out


def print_report(
    summaries: list[dict[str, Any]],
    goals: list[dict[str, Any]],
    memory: dict[str, Any],
    models: list[Model],
) -> None:
    print("\nmodels:")
    for m in models:
        print(
            f"  {m.name:<12} run {m.run_id}, {m.rows:,} rows, {m.hyperparameters}, trained in "
            f"{m.training_seconds} s, {m.file_mb} MB joblib"
        )
    print(f"\n{'model':<13}{'target':<9}{'one row p50 ms':>15}{'p99 ms':>9}{'rounds p50':>32}")
    for s in summaries:
        if s["kind"] == "one-row":
            each = " ".join(f"{x:.2f}" for x in s["round_p50_ms"])
            print(
                f"{s['model']:<13}{s['target']:<9}{s['p50_ms']:>15.2f}{s['p99_ms']:>9.2f}"
                f"  {each:>30}"
            )
    print(f"\n{'model':<13}{'target':<9}{'batch rows':>11}{'p50 ms':>10}{'rows/s':>12}")
    for s in summaries:
        if s["kind"] != "batch":
            continue
        head = f"{s['model']:<13}{s['target']:<9}{s['rows']:>11,}"
        if s.get("refused"):
            print(f"{head}  refused: {s['refused'][:120]}")
        else:
            print(f"{head}{s['p50_ms']:>10.1f}{s['rows_per_s']:>12,}")
    print("\nmemory: trainql server's VmRSS around the first prediction of each model (MB)")
    for m in models:
        d = memory[m.name]
        peer = f"; MLflow's server {d['mlflow_rss_end_mb']} MB" if "mlflow_rss_end_mb" in d else ""
        print(
            f"  {m.name:<12} {d['trainql_rss_before_mb']} -> {d['trainql_rss_after_mb']} "
            f"(+{d['trainql_rss_delta_mb']}), first prediction {d['first_prediction_s']} s, "
            f"ONNX {d['onnx_mb']} MB{peer}"
        )
    print(f"  trainql server at the end: {memory['trainql_rss_end_mb']} MB")
    print("\ngoals:")
    for g in goals:
        mark = "met" if g["met"] else "NOT met"
        value = "refused" if g["value"] is None else g["value"]
        print(f"  {g['model']:<12} {g['target']:<8} {g['goal']:<46} {value:>8}  {mark}")


# Main ----------------------------------------------------------------------------------------


def train_models(base_url: str, token: str, models: list[Model], big_csv: str) -> None:
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Token {token}"}, timeout=60
    ) as http:
        for model, dataset in zip(models, (DEFAULT_DATASET_PATH, big_csv), strict=True):
            print(f"training {model.name}: {model.hyperparameters}", flush=True)
            train(http, model, dataset)
            print(f"  {model.training_seconds} s, {model.file_mb} MB", flush=True)


def first_predictions(
    server_pid: int, calls: dict[str, dict[str, Call]], sender: Callable[[str], Sender], row: Any
) -> dict[str, Any]:
    """The server's VmRSS before and after the first (REST) prediction of each model, and
    that cold request's seconds (it loads the model)."""
    memory: dict[str, Any] = {}
    for name, by_target in calls.items():
        call = by_target["rest"]
        before = rss_mb(server_pid)
        client = sender(call.base_url)
        try:
            seconds, _ = ask(client, call, call.encode([row]))
        finally:
            client.close()
        after = rss_mb(server_pid)
        memory[name] = {
            "trainql_rss_before_mb": before,
            "trainql_rss_after_mb": after,
            "trainql_rss_delta_mb": round(after - before, 1),
            "first_prediction_s": round(seconds, 3),
        }
    return memory


def start_peer(
    stack: ExitStack, bin_dir: Path, state: Path, models: list[Model], rows: list[dict[str, Any]]
) -> dict[str, tuple[str, int]]:
    """Each model saved for MLflow and served by `mlflow models serve` until `stack` closes;
    base URL and pid by model."""
    rows_path = state / "example-rows.json"
    rows_path.write_text(json.dumps(rows))
    served = {}
    for m in models:
        out_dir = state / "mlflow-models" / m.name
        out_dir.parent.mkdir(exist_ok=True)
        print(f"saving {m.name} as an MLflow model and serving it", flush=True)
        save_for_mlflow(bin_dir, m, out_dir, rows_path)
        served[m.name] = stack.enter_context(
            mlflow_models_serve(bin_dir, out_dir, state / f"mlflow-{m.name}.log")
        )
    return served


def run(args: argparse.Namespace, bin_dir: Path | None, models: list[Model]) -> dict[str, Any]:
    """Train, serve, check and measure; the report's parts."""
    one_rows = feature_rows(ROW_SET, seed=7)
    batch = feature_rows(args.batch_rows, seed=8)
    check = feature_rows(CHECK_ROWS, seed=9)
    sender = SENDERS[args.client]
    with tempfile.TemporaryDirectory(prefix="trainql-predict-") as tmp, ExitStack() as stack:
        state = Path(tmp) / "state"
        state.mkdir()
        database_url = fresh_trainql_database(args.backend, args.pg_server, DATABASE, state)
        if args.backend == "postgresql":
            stack.callback(drop_postgres, args.pg_server, DATABASE)
        big_csv = "bench/skills_big.csv"
        print(f"generating {args.big_rows:,} rows", flush=True)
        write_future_skills_csv(state / "data" / big_csv, args.big_rows)
        env = settings_env(
            database_url=database_url,
            state_dir=state,
            extra={
                "TRAINQL_ADMIN_PASSWORD": PASSWORD,
                "TRAINQL_LOG_LEVEL": "WARNING",
                **({"TRAINQL_MAX_BODY_KB": str(args.max_body_kb)} if args.max_body_kb else {}),
            },
        )
        server = stack.enter_context(live_server(env, log_path=Path(tmp) / "serve.log"))
        token = httpx.post(
            f"{server.base_url}/api-token-auth/", json={"username": "admin", "password": PASSWORD}
        ).json()["token"]
        train_models(server.base_url, token, models, big_csv)
        pipelines = {m.name: joblib.load(m.model_path) for m in models}
        for m in models:
            m.classes = [str(c) for c in pipelines[m.name].classes_]
        calls = {m.name: trainql_calls(server.base_url, token, m) for m in models}
        memory = first_predictions(server.process.pid, calls, sender, one_rows[0])
        for m in models:
            memory[m.name]["onnx_mb"] = onnx_mb(pipelines[m.name])
        served = {} if bin_dir is None else start_peer(stack, bin_dir, state, models, one_rows)
        for m in models:
            if m.name in served:
                calls[m.name]["mlflow"] = mlflow_call(served[m.name][0], m, list(one_rows[0]))
        differences = {}
        check_frame = pd.DataFrame.from_records(check)
        for m in models:
            expected = pipelines[m.name].predict_proba(check_frame)
            differences[m.name] = check_answers(calls[m.name], sender, m, check, expected)
        print(f"answers agree with predict_proba; largest differences {differences}", flush=True)
        series = measure(
            models=models,
            calls=calls,
            frames=pipelines,
            args=args,
            one_rows=one_rows,
            batch=batch,
            floor=floor_call(server.base_url, token),
        )
        memory["trainql_rss_end_mb"] = rss_mb(server.process.pid)
        for name, (_, pid) in served.items():
            memory[name]["mlflow_rss_end_mb"] = tree_rss_mb(pid)
    summaries = [s.summary(args.batch_rows) for s in series]
    return {
        "models": [asdict(m) for m in models],
        "largest_probability_difference": differences,
        "series": summaries,
        "goals": verdicts(summaries, models),
        "memory": memory,
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    load_before = os.getloadavg()
    bin_dir = None if args.no_peer else mlflow_venv(pins=(f"scikit-learn=={sklearn.__version__}",))
    models = [
        Model(f"default-{args.default_trees}", 357, {"n_estimators": args.default_trees}),
        Model(
            f"rows-{short(args.big_rows)}",
            args.big_rows,
            {"n_estimators": args.big_trees, "max_depth": args.big_depth},
        ),
    ]
    parts = run(args, bin_dir, models)
    print_report(parts["series"], parts["goals"], parts["memory"], models)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    meta = {
        "when": stamp,
        "seconds": round(time.perf_counter() - started, 1),
        "mlflow": mlflow_version(bin_dir) if bin_dir is not None else None,
        "scikit_learn": sklearn.__version__,
        "backend": args.backend,
        "client": args.client,
        "max_body_kb": args.max_body_kb or None,
        "rounds": args.rounds,
        "requests": args.requests,
        "warmup": args.warmup,
        "batch_rows": args.batch_rows,
        "batch_requests": args.batch_requests,
        "quick": args.quick,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
    }
    report = {"meta": meta, **parts}
    out = args.out or RESULTS / f"predict-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{meta['seconds']} s; load average before {load_before}, after {os.getloadavg()}")
    print(f"wrote {out}")
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--no-peer", action="store_true", help="skip MLflow (no venv, no peer)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200, help="timed one-row requests")
    parser.add_argument("--warmup", type=int, default=50, help="untimed one-row requests")
    parser.add_argument("--batch-rows", type=int, default=10_000)
    parser.add_argument("--batch-requests", type=int, default=5)
    parser.add_argument("--default-trees", type=int, default=100)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--big-trees", type=int, default=20)
    parser.add_argument("--big-depth", type=int, default=12)
    parser.add_argument("--client", choices=tuple(SENDERS), default="httpx")
    parser.add_argument(
        "--max-body-kb",
        type=int,
        default=0,
        help="TRAINQL_MAX_BODY_KB for the server (default: the service's own default); "
        "GraphQL bodies are bound by it",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON result path")
    parser.add_argument(
        "--pg-server",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help=f"PostgreSQL server (--backend postgresql); the bench creates and drops {DATABASE!r}",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.requests, args.warmup = 1, 20, 5
        args.batch_rows, args.batch_requests = 500, 2
        args.default_trees, args.big_rows, args.big_trees, args.big_depth = 10, 5_000, 5, 6
    return args


if __name__ == "__main__":
    main(parse_args())
