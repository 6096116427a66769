"""A served process keeps the memory of freed large buffers (http/serving.keep_large_buffers):
a request that copies megabytes does not pay a page fault for every 4 KB of each copy.
Each case runs in a fresh interpreter, so that the test process's allocator is untouched."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's"
)

# Four 3 MB buffers alive at once, then freed, 20 times: a 10,000-row prediction's copies of
# its body. Page faults of that churn, before and after keep_large_buffers().
CHURN = """
import json, resource
from trainql.http.serving import keep_large_buffers

def faults_of_churn():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        buffers = [b"x" * (3 << 20) for _ in range(4)]
        del buffers
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults_of_churn()
default = faults_of_churn()
tuned = keep_large_buffers()
faults_of_churn()
print(json.dumps({"default": default, "tuned": tuned, "after": faults_of_churn()}))
"""


def churn(env: dict[str, str]) -> dict[str, int | bool]:
    done = subprocess.run(
        [sys.executable, "-c", CHURN],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, int | bool] = json.loads(done.stdout)
    return result


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}


def test_large_buffers_reuse_their_pages_once_kept():
    # when
    result = churn(clean_environment())
    # then: 80 buffers of 3 MB cost about 60,000 faults by default, next to none once kept
    assert result["tuned"] is True
    assert result["default"] > 20_000
    assert result["after"] < result["default"] / 20


def test_the_operators_malloc_environment_wins():
    # given: a trim threshold of the operator's, below the sizes above
    env = {**clean_environment(), "MALLOC_TRIM_THRESHOLD_": "1000000"}
    # when
    result = churn(env)
    # then: left as the operator set it, and the churn faults as before
    assert result["tuned"] is False
    assert result["after"] > result["default"] / 2
