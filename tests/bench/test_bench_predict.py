"""The predictions bench measures both models on every trainql target (CSV files on batches
only), checked against predict_proba (the quick sizes, without the MLflow peer, whose venv
takes minutes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.bench_predict import TOLERANCE, main, parse_args


@pytest.mark.slow
def test_a_quick_run_without_the_peer_measures_both_models_and_agrees_with_predict_proba(
    tmp_path: Path,
):
    # given: the quick sizes (10 and 5 trees, 500-row batches, one round), no MLflow
    out = tmp_path / "predict.json"
    args = parse_args(["--quick", "--no-peer", "--out", str(out)])
    # when
    report = main(args)
    # then: every model, target and kind was measured
    measured = {(s["model"], s["target"], s["kind"]) for s in report["series"]}
    for model in ("default-10", "rows-5k"):
        assert {(model, "graphql", "one-row"), (model, "rest", "one-row")} <= measured
        assert (model, "csv", "one-row") not in measured  # batches only
        for target in ("graphql", "rest", "csv", "bare"):
            assert (model, target, "batch") in measured
    assert all(s["requests"] >= 2 and s["p50_ms"] > 0 for s in report["series"])
    # the served answers agreed with scikit-learn's own predict_proba
    for differences in report["largest_probability_difference"].values():
        assert set(differences) == {"graphql", "rest", "csv"}
        assert all(d <= TOLERANCE for d in differences.values())
    # memory was read around each model's first prediction, and the JSON was written
    for model in ("default-10", "rows-5k"):
        assert report["memory"][model]["trainql_rss_after_mb"] > 0
    assert json.loads(out.read_text())["goals"] == report["goals"]
