"""The transport bench measures what it says: every variant answers the same question."""

from __future__ import annotations

from bench.bench_graphql_transport import goals, main, parse_args


async def test_the_bench_times_every_variant_of_the_page_in_process():
    # given a tiny run of the bench on SQLite, in process only
    args = parse_args(
        [
            *("--backend", "sqlite", "--mode", "inprocess", "--runs", "30"),
            *("--iterations", "2", "--warmup", "0", "--document", "page", "me"),
        ]
    )

    # when (it asserts that POST, APQ GET, the batch and the REST list return the same 20 runs)
    rows = await main(args)

    # then one row per variant, each timed twice
    assert [(r["document"], r["variant"], r["requests"]) for r in rows] == [
        ("page", "post", 2),
        ("page", "apq-get", 2),
        ("page", "batch10", 2),
        ("page", "rest", 2),
        ("me", "post", 2),
        ("me", "apq-get", 2),
        ("me", "batch10", 2),
    ]
    assert all(r["p50_ms_per_op"] > 0 for r in rows)
    assert {(v["document"], v["variant"]) for v in goals(rows)} == {
        ("page", "apq-get"),
        ("page", "batch10"),
        ("me", "apq-get"),
        ("me", "batch10"),
    }


def test_goals_compare_each_variant_with_the_post_of_the_same_mode():
    rows = [
        {"backend": "sqlite", "mode": "live", "document": "page", "variant": v, "p50_ms_per_op": t}
        for v, t in [("post", 10.0), ("apq-get", 10.3), ("batch10", 4.0), ("rest", 8.0)]
    ]

    verdicts = {v["variant"]: v for v in goals(rows)}

    assert verdicts["batch10"]["met"] and verdicts["batch10"]["p50_over_post"] == 0.4
    assert not verdicts["apq-get"]["met"] and verdicts["apq-get"]["within_noise"]
