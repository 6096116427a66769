"""trainModel end to end against a bare scikit-learn script, and API latency during training.

    python -m bench.bench_training --rows 357,100000,1000000

For each size: the same generated CSV is trained (1) by a real `trainql serve` through the
trainModel mutation (timed by the client: HTTP, validation, dataset inspection, run rows,
the worker process, fitting, metrics, saving the model) and (2) by `bench/bare_training.py`,
a plain script fitting the same pipeline (timed from after its imports: read, split, fit,
evaluate, save). Peak memory: the highest VmHWM of the server's worker processes, sampled
from /proc while the training runs, against the bare script's own ru_maxrss. During the
largest size, a second training runs while a client asks `{ me }` back to back and reports
its latency percentiles (the timed training runs alone, as the bare script does).
Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.live import live_server, settings_env
from trainql.ml.generator import write_future_skills_csv

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PASSWORD = "bench-password-123"
TRAIN = """
mutation Train($input: TrainModelInput) {
  trainModel(input: $input) {
    message
    trainingRun { id status errorMessage trainingDurationSeconds accuracy }
  }
}
"""


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, from each thread's /proc children list.

    Cheap on purpose: the sampler runs beside the timed training, and scanning all of /proc
    every 20 ms took about a sixth of a core from it (the worker runs at nice 10).
    """
    found, stack = [], [pid]
    while stack:
        parent = stack.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(children)
            stack.extend(children)
    return found


def status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakSampler(threading.Thread):
    """Samples the peak RSS (VmHWM) of the server's descendant processes (the fork server,
    idle workers and the training worker: the training worker is the largest)."""

    def __init__(self, server_pid: int) -> None:
        super().__init__(daemon=True)
        self.server_pid = server_pid
        self.peak_kb = 0
        self.server_peak_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in descendants(self.server_pid):
                self.peak_kb = max(self.peak_kb, status_kb(pid, "VmHWM"))
            self.server_peak_kb = max(self.server_peak_kb, status_kb(self.server_pid, "VmHWM"))
            time.sleep(0.02)


class LatencyProbe(threading.Thread):
    """Asks `{ me }` back to back (keep-alive) until stopped; at most `limit` requests."""

    def __init__(self, base_url: str, token: str, limit: int = 100_000) -> None:
        super().__init__(daemon=True)
        self.base_url, self.token, self.limit = base_url, token, limit
        self.latencies_ms: list[float] = []
        self.errors = 0
        self.stop = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Token {self.token}"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=30) as http:
            while not self.stop.is_set() and len(self.latencies_ms) < self.limit:
                started = time.perf_counter()
                response = http.post("/graphql", json={"query": "{ me { username } }"})
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code == 200 and response.json()["data"]["me"]:
                    self.latencies_ms.append(elapsed)
                else:
                    self.errors += 1
                time.sleep(0.01)

    def summary(self) -> dict[str, float]:
        values = sorted(self.latencies_ms)
        if not values:
            return {"count": 0}
        q = statistics.quantiles(values, n=100) if len(values) > 1 else [values[0]] * 99
        return {
            "count": len(values),
            "errors": self.errors,
            "p50_ms": round(q[49], 2),
            "p99_ms": round(q[98], 2),
            "max_ms": round(values[-1], 2),
        }


def train_via_service(
    base_url: str, token: str, dataset: str, hyper: dict[str, Any], server_pid: int
) -> dict[str, Any]:
    sampler = PeakSampler(server_pid)
    sampler.start()
    started = time.perf_counter()
    response = httpx.post(
        f"{base_url}/graphql",
        json={"query": TRAIN, "variables": {"input": {"datasetPath": dataset, **hyper}}},
        headers={"Authorization": f"Token {token}"},
        timeout=3600,
    )
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    payload = response.json()["data"]["trainModel"]["trainingRun"]
    if payload["status"] != "COMPLETED":
        raise RuntimeError(f"service training failed: {payload}")
    return {
        "wall_seconds": round(wall, 3),
        "worker_peak_rss_mb": round(sampler.peak_kb / 1024, 1),
        "server_peak_rss_mb": round(sampler.server_peak_kb / 1024, 1),
        "accuracy": payload["accuracy"],
    }


def train_bare(csv: Path, hyper: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    h = hyper["hyperparameters"]
    done = subprocess.run(
        [
            sys.executable,
            str(HERE / "bare_training.py"),
            str(csv),
            str(out_dir / "bare.joblib"),
            str(h["nEstimators"]),
            str(h.get("maxDepth") or 0),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="357,100000,1000000")
    parser.add_argument("--n-estimators", type=int, default=20)
    parser.add_argument("--max-depth", type=int, default=20, help="0 for unlimited")
    parser.add_argument(
        "--repeat", type=int, default=3, help="trainings per size and side (medians compared)"
    )
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    args = parser.parse_args()
    sizes = [int(r) for r in args.rows.split(",")]
    hyper = {
        "hyperparameters": {"nEstimators": args.n_estimators, "maxDepth": args.max_depth or None}
    }
    rows_out: list[dict[str, Any]] = []
    latency: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="trainql-bench-") as tmp:
        state = Path(tmp) / "state"
        database_url = args.database_url or f"sqlite:///{state / 'trainql.db'}"
        state.mkdir()
        env = settings_env(
            database_url=database_url,
            state_dir=state,
            extra={"TRAINQL_ADMIN_PASSWORD": PASSWORD, "TRAINQL_LOG_LEVEL": "WARNING"},
        )
        with live_server(env, log_path=Path(tmp) / "serve.log") as server:
            token = httpx.post(
                f"{server.base_url}/api-token-auth/",
                json={"username": "admin", "password": PASSWORD},
            ).json()["token"]
            # Warm-up: the first training starts the fork server (imports scikit-learn once).
            train_via_service(
                server.base_url,
                token,
                "ml/data/future_skills_dataset.csv",
                {"hyperparameters": {"nEstimators": 2}},
                server.process.pid,
            )
            idle = LatencyProbe(server.base_url, token, limit=300)
            idle.start()
            idle.join()
            latency["idle"] = idle.summary()
            print(
                f"{'rows':>9} {'service s':>10} {'bare s':>8} {'ratio':>6} "
                f"{'worker MB':>10} {'bare MB':>8} {'ratio':>6}",
                flush=True,
            )
            for rows in sizes:
                csv = state / "data" / "bench" / f"skills_{rows}.csv"
                write_future_skills_csv(csv, rows)
                dataset = f"bench/skills_{rows}.csv"
                # Timed alone, as the bare script is: a probe hammering the API at the same
                # time would take CPU from the training and skew the ratio. Service and bare
                # script alternate, and the medians are compared: one fit of the same forest
                # varies by 10-30 % from run to run on a shared 2-core machine.
                services, bares = [], []
                for _ in range(args.repeat):
                    services.append(
                        train_via_service(
                            server.base_url, token, dataset, hyper, server.process.pid
                        )
                    )
                    bares.append(train_bare(csv, hyper, Path(tmp)))
                if rows == max(sizes):
                    # The latency probe gets a training of its own.
                    probe = LatencyProbe(server.base_url, token)
                    probe.start()
                    probed = train_via_service(
                        server.base_url, token, dataset, hyper, server.process.pid
                    )
                    probe.stop.set()
                    probe.join()
                    latency[f"during_{rows}_rows"] = probe.summary()
                    latency[f"during_{rows}_rows"]["training_wall_seconds"] = probed["wall_seconds"]
                service = median_run(services, "wall_seconds")
                bare = median_run(bares, "wall_seconds")
                rows_out.append(
                    {
                        "rows": rows,
                        "service": service,
                        "bare": bare,
                        "service_wall_seconds_all": [r["wall_seconds"] for r in services],
                        "bare_wall_seconds_all": [r["wall_seconds"] for r in bares],
                        "wall_ratio": round(service["wall_seconds"] / bare["wall_seconds"], 3),
                        "memory_ratio": round(
                            max(r["worker_peak_rss_mb"] for r in services)
                            / max(r["peak_rss_mb"] for r in bares),
                            3,
                        ),
                    }
                )
                print_row(rows_out[-1])
    report = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "hyperparameters": hyper["hyperparameters"],
        "repeat": args.repeat,
        "sizes": rows_out,
        "me_latency": latency,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"training-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2))
    print()
    print("{ me } latency:", json.dumps(latency))
    print(f"wrote {out}")


def median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the median `key` (the lower middle one for an even count)."""
    return sorted(runs, key=lambda run: run[key])[(len(runs) - 1) // 2]


def print_row(row: dict[str, Any]) -> None:
    s, b = row["service"], row["bare"]
    print(
        f"{row['rows']:>9} {s['wall_seconds']:>10.2f} {b['wall_seconds']:>8.2f} "
        f"{row['wall_ratio']:>6.2f} {s['worker_peak_rss_mb']:>10.0f} {b['peak_rss_mb']:>8.0f} "
        f"{row['memory_ratio']:>6.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
