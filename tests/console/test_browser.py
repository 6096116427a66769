"""The console in a real browser with no internet: Debian's chromium, driven by playwright.

One `trainql serve` (SQLite, status polled every 0.1 s) serves every test of the module; each
test makes its own users, so the runs and datasets it looks at are its own. The test process
writes rows through the service's own store functions where a test needs many runs with
chosen numbers, and trains for real where the numbers must come from scikit-learn. Every
request to another host is aborted (tests/browser.py), and after each test the page must
have made none, thrown nothing, and broken no rule of its Content-Security-Policy.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from graphql import GraphQLObjectType, build_schema, extend_schema, parse, validate
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from tests.browser import OfflinePage, launch_chromium, offline_page, require
from tests.factories import DEFAULT_PASSWORD, Account, Factory
from tests.live import LiveServer, live_server, settings_env
from trainql.config import Settings
from trainql.domain import Role, TrainingRun
from trainql.ml.generator import write_future_skills_csv
from trainql.schema import schema as graphql_schema
from trainql.services import Services

pytestmark = [pytest.mark.browser, pytest.mark.slow]

T = TypeVar("T")

ADMIN_PASSWORD = "console-admin-password"
FIRST_LOAD_LIMIT = 300 * 1024
SCREENSHOTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "screenshots"
BASE_DATE = datetime(2025, 11, 27, 9, 0, tzinfo=UTC)

RUN_DETAILS = """
query Run($id: ID!) {
  trainingRun(id: $id) {
    id accuracy testSamples
    confusionMatrix { labels matrix }
    featureImportances { feature importance }
  }
}
"""
TRAIN = """
mutation Train($input: TrainModelInput) {
  trainModel(input: $input) { trainingRun { id status modelVersion } }
}
"""


@dataclass
class Console:
    """The live server, and what the test process may do to it besides browsing."""

    server: LiveServer
    database_url: str
    state_dir: Path

    def url(self, route: str = "") -> str:
        return f"{self.server.base_url}/console" + (f"#{route}" if route else "")

    def graphql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Token {token}"} if token else {}
        response = httpx.post(
            f"{self.server.base_url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
            timeout=120,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def token(self, username: str, password: str) -> str:
        response = httpx.post(
            f"{self.server.base_url}/api-token-auth/",
            json={"username": username, "password": password},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def with_factory(self, operation: Callable[[Factory], Awaitable[T]]) -> T:
        async def main() -> T:
            settings = Settings(state_dir=self.state_dir, database_url=self.database_url)
            services = Services.create(settings)
            try:
                return await operation(Factory(services))
            finally:
                await services.db.dispose()

        # In a thread of its own: playwright's sync API keeps an event loop in this one.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, main()).result()

    def account(self, prefix: str, *roles: Role) -> Account:
        username = f"{prefix}-{uuid.uuid4().hex[:6]}"
        return self.with_factory(lambda factory: factory.account(username, *roles))

    def upload(self, account: Account, name: str, content: bytes) -> dict[str, Any]:
        response = httpx.post(
            f"{self.server.base_url}/ai/datasets",
            headers=account.headers,
            data={"name": name},
            files={"file": (f"{name}.csv", content, "text/csv")},
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{tmp / 'trainql.db'}"
    env = settings_env(
        database_url=url,
        state_dir=tmp / "state",
        extra={
            "TRAINQL_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "TRAINQL_SUBSCRIPTION_POLL_INTERVAL_S": "0.1",
            "TRAINQL_PLAYGROUND_DIR": str(tmp / "no-playground"),  # the console needs none
        },
    )
    with live_server(env, log_path=tmp / "serve.log") as server:
        yield Console(server, url, tmp / "tests")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium: Browser) -> Iterator[OfflinePage]:
    with offline_page(chromium, viewport={"width": 1280, "height": 900}) as offline:
        yield offline
        assert offline.blocked == [], "the page asked another host"
        assert offline.errors == [], "the page threw"
        assert offline.csp_violations() == []
        # What a script writes when it shows a value it did not have.
        shown = offline.page.evaluate("document.body.innerText")
        assert not re.findall(r"\b(?:null|undefined|NaN)\b|\[object \w+\]", shown), shown


def sign_in(page: Page, console: Console, username: str, password: str) -> None:
    page.goto(console.url("/signin"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signed-in-user")).to_have_text(username)


def open_route(page: Page, console: Console, route: str) -> None:
    """Go to a console route and wait until its view is on screen."""
    page.goto(console.url(route))
    expect(page.locator("main")).not_to_have_attribute("aria-busy", "true")


def wait_until_shown(page: Page) -> None:
    expect(page.locator("main")).not_to_have_attribute("aria-busy", "true")
    page.wait_for_function("!document.querySelector('main').hasAttribute('aria-busy')")


def table_column(page: Page, selector: str, column: int) -> list[str]:
    cells = page.locator(f"{selector} tbody tr td:nth-child({column})")
    return [text.strip() for text in cells.all_inner_texts()]


def screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    """Saved in the test's directory and under bench/results/screenshots (never committed)."""
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCREENSHOTS / name)
    return path


def skills_csv(tmp_path: Path, rows: int) -> bytes:
    """A synthetic future-skills CSV of `rows` rows (the default dataset's columns)."""
    path = tmp_path / f"skills-{rows}.csv"
    write_future_skills_csv(path, rows, seed=7)
    return path.read_bytes()


def record_attribute(page: Page, selector: str, attribute: str) -> None:
    """Record in the page every value `attribute` of the element at `selector` takes from
    now on (its current one first), and mark the document, to tell a reload afterwards."""
    page.evaluate(
        """([selector, attribute]) => {
          window.__sameDocument = true;
          const element = document.querySelector(selector);
          window.__seen = [element.getAttribute(attribute)];
          new MutationObserver(() => {
            const value = element.getAttribute(attribute);
            if (window.__seen.at(-1) !== value) window.__seen.push(value);
          }).observe(element, { attributes: true, attributeFilter: [attribute] });
        }""",
        [selector, attribute],
    )


def recorded(page: Page) -> list[str]:
    seen: Any = page.evaluate("window.__seen")
    return [str(value) for value in seen]


# --- sign in -------------------------------------------------------------------------------


def test_sign_in_keeps_the_token_and_a_wrong_password_is_refused_with_its_message(
    console: Console, browser_page: OfflinePage
):
    page = browser_page.page
    # given: the console, signed out
    page.goto(console.url())
    expect(page.get_by_role("heading", name="Sign in to trainql")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_focused()

    # when: a wrong password
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    # then: the server's message, and no token kept
    expect(page.locator("#sign-in-error")).to_have_text(
        "Unable to log in with provided credentials."
    )
    assert page.evaluate("localStorage.getItem('token')") is None

    # when: the right one
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_label("Password").press("Enter")

    # then: signed in, on the runs, with a token the API accepts; a reload keeps it
    expect(page.locator("#signed-in-user")).to_have_text("admin")
    expect(page.get_by_role("heading", name="Training runs", exact=True)).to_be_visible()
    token = page.evaluate("localStorage.getItem('token')")
    me = console.graphql("{ me { username } }", token=token)
    assert me == {"data": {"me": {"username": "admin"}}}
    page.reload()
    expect(page.locator("#signed-in-user")).to_have_text("admin")


def test_a_token_the_server_no_longer_accepts_sends_back_to_sign_in_with_the_reason(
    console: Console, browser_page: OfflinePage
):
    page = browser_page.page
    page.goto(console.url())
    page.evaluate("localStorage.setItem('token', 'not-a-token-this-server-issued')")

    page.reload()

    expect(page.locator("#sign-in-notice")).to_contain_text("Your saved sign-in is no longer valid")
    assert page.evaluate("localStorage.getItem('token')") is None


def test_signing_out_forgets_the_token_in_the_browser(console: Console, browser_page: OfflinePage):
    page = browser_page.page
    user = console.account("leaver", Role.MANAGER)
    sign_in(page, console, user.user.username, DEFAULT_PASSWORD)

    page.get_by_role("button", name="Sign out").click()

    expect(page.get_by_role("heading", name="Sign in to trainql")).to_be_visible()
    expect(page.locator("#sign-in-notice")).to_contain_text("You signed out")
    assert page.evaluate("localStorage.getItem('token')") is None


def test_signing_out_revokes_the_token(console: Console, browser_page: OfflinePage):
    page = browser_page.page
    user = console.account("revoker", Role.MANAGER)
    sign_in(page, console, user.user.username, DEFAULT_PASSWORD)
    token = page.evaluate("localStorage.getItem('token')")
    assert console.graphql("{ me { username } }", token=token)["data"]["me"] is not None

    page.get_by_role("button", name="Sign out").click()

    expect(page.locator("#sign-in-notice")).to_have_text("You signed out; the token is revoked.")
    refused = console.graphql("{ me { username } }", token=token)
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["UNAUTHENTICATED"]


# --- runs ----------------------------------------------------------------------------------


def test_the_runs_table_is_filtered_ordered_and_paged_forward_and_back(
    console: Console, browser_page: OfflinePage, tmp_path: Path
):
    page = browser_page.page
    # given: 20 COMPLETED runs of one trainer with distinct accuracies, 3 of the same
    # trainer FAILED, and 5 COMPLETED of another trainer (both must stay out of the filter)
    trainer = console.account("tabler", Role.HR_STAFF)
    other = console.account("other", Role.HR_STAFF)
    tag = uuid.uuid4().hex[:6]
    rows: list[dict[str, Any]] = []
    for i in range(20):
        accuracy = round(0.50 + ((i * 7) % 20) * 0.02, 4)  # a permutation of 0.50 … 0.88
        rows.append(
            {
                "run_date": BASE_DATE + timedelta(minutes=i),
                "model_version": f"tab-{tag}-{i:02d}",
                "status": "COMPLETED",
                "accuracy": accuracy,
                "f1_score": accuracy - 0.01,
                "trained_by_id": trainer.user.id,
            }
        )
    rows += [
        {
            "run_date": BASE_DATE + timedelta(minutes=30 + i),
            "model_version": f"tab-{tag}-failed-{i}",
            "status": "FAILED",
            "error_message": "boom",
            "trained_by_id": trainer.user.id,
        }
        for i in range(3)
    ]
    rows += [
        {
            "run_date": BASE_DATE + timedelta(minutes=40 + i),
            "model_version": f"tab-{tag}-other-{i}",
            "status": "COMPLETED",
            "accuracy": 0.99,
            "trained_by_id": other.user.id,
        }
        for i in range(5)
    ]
    ids = console.with_factory(lambda factory: factory.training_runs(rows))
    completed = sorted(range(20), key=lambda i: (-rows[i]["accuracy"], -ids[i]))
    by_accuracy_desc = [str(ids[i]) for i in completed]
    sign_in(page, console, "admin", ADMIN_PASSWORD)

    # when: filtered on the trainer and COMPLETED, ordered by accuracy descending, 10 a page
    page.get_by_label("Trained by").fill(trainer.user.username)
    page.get_by_label("COMPLETED").check()
    page.get_by_label("Order by").select_option("ACCURACY")
    page.get_by_label("Direction").select_option("DESC")
    page.get_by_label("Runs per page").select_option("10")
    page.get_by_role("button", name="Apply").click()

    # then: the first ten, best first
    summary = page.locator("#runs-summary")
    expect(summary).to_have_text(
        "20 runs match the filters; 10 on this page, ordered by accuracy, descending."
    )
    assert table_column(page, "#runs-table", 2) == by_accuracy_desc[:10]
    accuracies = [float(a) for a in table_column(page, "#runs-table", 5)]
    assert accuracies == sorted(accuracies, reverse=True)
    expect(page.get_by_role("button", name="← Previous")).to_be_disabled()
    screenshot(page, "runs-table.png", tmp_path)

    # when / then: next page, then back
    page.get_by_role("button", name="Next →").click()
    expect(page.locator("#runs-table tbody tr").first).to_have_attribute(
        "data-run-id", by_accuracy_desc[10]
    )
    assert table_column(page, "#runs-table", 2) == by_accuracy_desc[10:]
    expect(page.get_by_role("button", name="Next →")).to_be_disabled()
    expect(page.get_by_role("button", name="← Previous")).to_be_focused()  # focus kept
    page.get_by_role("button", name="← Previous").click()
    expect(page.locator("#runs-table tbody tr").first).to_have_attribute(
        "data-run-id", by_accuracy_desc[0]
    )
    assert table_column(page, "#runs-table", 2) == by_accuracy_desc[:10]
    expect(page.get_by_role("button", name="← Previous")).to_be_disabled()

    # when / then: the accuracy heading flips the order; a reload shows the same page
    page.get_by_role("button", name="Accuracy", exact=False).first.click()
    expect(summary).to_contain_text("ordered by accuracy, ascending")
    assert table_column(page, "#runs-table", 2) == list(reversed(by_accuracy_desc))[:10]
    page.reload()
    expect(summary).to_contain_text("ordered by accuracy, ascending")
    assert table_column(page, "#runs-table", 2) == list(reversed(by_accuracy_desc))[:10]
    assert page.get_by_label("Trained by").input_value() == trainer.user.username


def test_running_and_queued_rows_update_live_without_a_reload(
    console: Console, browser_page: OfflinePage, tmp_path: Path
):
    page = browser_page.page
    # given: a trainer, a dataset slow enough to train that RUNNING shows, and the table
    trainer = console.account("live", Role.HR_STAFF)
    dataset = console.upload(trainer, "slow", skills_csv(tmp_path, 4000))
    sign_in(page, console, "admin", ADMIN_PASSWORD)
    open_route(page, console, f"/runs?trainedBy={trainer.user.username}")
    expect(page.locator("#runs-summary")).to_contain_text("0 runs match")

    # when: a background training starts; the page is reloaded once to list it
    started = console.graphql(
        TRAIN,
        {
            "input": {
                "datasetId": dataset["id"],
                "background": True,
                "hyperparameters": {"nEstimators": 300},
            }
        },
        token=trainer.token,
    )
    run_id = started["data"]["trainModel"]["trainingRun"]["id"]
    page.reload()
    row = page.locator(f'#runs-table tr[data-run-id="{run_id}"]')
    expect(row).to_have_attribute("data-status", re.compile("^(QUEUED|RUNNING)$"))
    record_attribute(page, f'#runs-table tr[data-run-id="{run_id}"]', "data-status")

    # then: the row moves on by itself, through RUNNING, to COMPLETED with its metrics
    expect(row).to_have_attribute("data-status", "COMPLETED", timeout=120_000)
    seen = recorded(page)
    assert "RUNNING" in seen
    assert seen[-1] == "COMPLETED"
    assert page.evaluate("window.__sameDocument") is True
    assert re.fullmatch(r"0\.\d{3}", row.locator("td.accuracy").inner_text())


def test_a_background_training_started_from_the_console_is_followed_live(
    console: Console, browser_page: OfflinePage, tmp_path: Path
):
    page = browser_page.page
    # given: an HR_STAFF user signed in, with a CSV to upload
    trainer = console.account("trainer", Role.HR_STAFF)
    (tmp_path / "skills.csv").write_bytes(skills_csv(tmp_path, 4000))
    sign_in(page, console, trainer.user.username, DEFAULT_PASSWORD)

    # when: the CSV is uploaded through the console (a GraphQL multipart request)
    open_route(page, console, "/datasets")
    page.get_by_label("CSV file").set_input_files(str(tmp_path / "skills.csv"))
    expect(page.get_by_label("Name")).to_have_value("skills")
    with page.expect_request(lambda r: r.method == "POST" and "/graphql" in r.url) as upload:
        page.get_by_role("button", name="Upload").click()
    assert upload.value.headers["apollo-require-preflight"] == "true"
    row = page.locator("#datasets-table tbody tr", has_text="skills")
    expect(row).to_contain_text("4,000")
    expect(row).to_contain_text("job_role_name, skill_name")

    # when: on the dataset's page, "Train on this dataset" with 300 trees
    row.get_by_role("link", name="skills").click()
    expect(page.get_by_role("heading", name="Dataset: skills")).to_be_visible()
    page.get_by_label("Trees").fill("300")
    page.get_by_role("button", name="Train on this dataset").click()

    # then: QUEUED → RUNNING → COMPLETED on screen, in the same document
    timeline = page.locator("#training-timeline li")
    expect(timeline.first).to_have_attribute("data-status", "QUEUED")
    page.evaluate("window.__sameDocument = true")
    expect(timeline.last).to_have_attribute("data-status", "COMPLETED", timeout=120_000)
    statuses = [timeline.nth(i).get_attribute("data-status") for i in range(timeline.count())]
    assert statuses == ["QUEUED", "RUNNING", "COMPLETED"]
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("#training-outcome")).to_contain_text("Completed: accuracy 0.")

    # and the link opens the run, trained on this dataset, which the dataset now lists
    page.locator("#trained-run-link").click()
    expect(page.locator("#run-dataset")).to_have_text("skills")
    page.go_back()
    expect(page.locator("#dataset-runs tbody tr")).to_have_count(1)


def test_the_run_page_shows_the_confusion_matrix_and_importances_with_the_right_numbers(
    console: Console, browser_page: OfflinePage, tmp_path: Path
):
    page = browser_page.page
    # given: a real training on the default dataset
    admin_token = console.token("admin", ADMIN_PASSWORD)
    trained = console.graphql(
        TRAIN, {"input": {"hyperparameters": {"nEstimators": 40}}}, token=admin_token
    )
    run_id = trained["data"]["trainModel"]["trainingRun"]["id"]
    stored = console.graphql(RUN_DETAILS, {"id": run_id}, token=admin_token)["data"]["trainingRun"]
    matrix = stored["confusionMatrix"]
    sign_in(page, console, "admin", ADMIN_PASSWORD)

    # when
    open_route(page, console, f"/runs/{run_id}")

    # then: the heat map holds the stored counts, labelled by class on both axes ...
    heat = page.locator("#confusion-matrix")
    headers = [
        text.replace("predicted", "").strip() for text in heat.locator("thead th").all_inner_texts()
    ]
    assert headers == matrix["labels"]
    shown = [
        [int(cell) for cell in heat.locator("tbody tr").nth(i).locator("td").all_inner_texts()]
        for i in range(len(matrix["labels"]))
    ]
    assert shown == matrix["matrix"]
    # ... which add up to the test split, the diagonal to the accuracy the page shows
    assert sum(map(sum, shown)) == stored["testSamples"]
    diagonal = sum(shown[i][i] for i in range(len(shown)))
    page_accuracy = page.locator("#run-metrics tr", has_text="Accuracy").locator("td").inner_text()
    assert page_accuracy == f"{diagonal / stored['testSamples']:.3f}"
    assert page_accuracy == f"{stored['accuracy']:.3f}"
    # the heat follows the counts: the largest count has the darkest cell
    darkest = heat.locator("td.heat-8")
    assert int(darkest.first.inner_text()) == max(map(max, shown))

    # and the importances: every feature, largest first, with its value as text
    bars = page.locator("#feature-importances tbody tr")
    features = bars.locator("th").all_inner_texts()
    values = [float(v) for v in bars.locator("td.num").all_inner_texts()]
    expected = sorted(stored["featureImportances"], key=lambda f: -f["importance"])
    assert features == [f["feature"] for f in expected]
    assert values == [round(f["importance"], 4) for f in expected]
    assert values == sorted(values, reverse=True)
    assert bars.locator("svg rect").count() == len(expected)
    screenshot(page, "run-page.png", tmp_path)


def test_a_failed_run_shows_its_error_message(console: Console, browser_page: OfflinePage):
    page = browser_page.page
    failed = console.with_factory(
        lambda factory: factory.training_run(
            status="FAILED",
            error_message="Dataset has no column 'future_need_level'; columns are: a, b",
            accuracy=None,
            precision=None,
            recall=None,
            f1_score=None,
            per_class_metrics={},
            feature_importances={},
            confusion_matrix=None,
            model_version=f"failed-{uuid.uuid4().hex[:6]}",
        )
    )
    sign_in(page, console, "admin", ADMIN_PASSWORD)

    open_route(page, console, f"/runs/{failed.id}")

    expect(page.locator("#run-error")).to_contain_text(
        "Dataset has no column 'future_need_level'; columns are: a, b"
    )
    expect(page.locator(".run-view .status")).to_have_text("✗ FAILED")
    assert page.locator("#confusion-matrix").count() == 0
    assert page.locator("#predict").count() == 0  # only COMPLETED runs predict


def test_two_runs_are_compared_side_by_side(console: Console, browser_page: OfflinePage):
    page = browser_page.page
    # given: two runs of one trainer with known metrics and importances
    trainer = console.account("comparer", Role.HR_STAFF)
    tag = uuid.uuid4().hex[:6]
    given = [
        (1, 0.80, 0.79, {"trend_score": 0.6, "job_role_name": 0.4}),
        (2, 0.85, 0.78, {"trend_score": 0.3, "job_role_name": 0.7}),
    ]

    async def insert(factory: Factory) -> list[TrainingRun]:
        return [
            await factory.training_run(
                model_version=f"cmp-{tag}-{n}",
                trained_by_id=trainer.user.id,
                accuracy=accuracy,
                f1_score=f1,
                feature_importances=importances,
            )
            for n, accuracy, f1, importances in given
        ]

    runs = console.with_factory(insert)
    sign_in(page, console, "admin", ADMIN_PASSWORD)
    open_route(
        page, console, f"/runs?trainedBy={trainer.user.username}&order=MODEL_VERSION&dir=ASC"
    )

    # when: both are selected in the table and compared
    for run in runs:
        page.get_by_label(f"Compare run {run.id} ({run.model_version})").check()
    page.get_by_role("button", name="Compare selected (2)").click()

    # then: metrics side by side with the difference from the first
    expect(page.get_by_role("heading", name="Compare 2 runs")).to_be_visible()
    accuracy = page.locator('#compare-metrics tr[data-metric="accuracy"] td')
    assert accuracy.nth(0).inner_text().strip() == "0.800"
    # (as text, the way a screen reader gets it: the visually hidden words included)
    assert accuracy.nth(1).text_content() == "0.850 (+0.050 from the baseline) ★ best"
    f1 = page.locator('#compare-metrics tr[data-metric="f1Score"] td')
    assert "\N{MINUS SIGN}0.010" in f1.nth(1).inner_text()
    assert f1.nth(1).locator(".delta.worse").count() == 1
    # and the importances overlaid: one bar per run and feature, the numbers in the table,
    # features by their mean importance (job_role_name 0.55, trend_score 0.45)
    assert page.locator(".grouped-chart svg rect").count() == 4
    importances = page.locator("#compare-importances tbody tr")
    assert importances.locator("th").all_inner_texts() == ["job_role_name", "trend_score"]
    assert importances.nth(0).locator("td").all_inner_texts() == ["0.400", "0.700"]
    assert importances.nth(1).locator("td").all_inner_texts() == ["0.600", "0.300"]


# --- datasets ------------------------------------------------------------------------------


def held_requests(page: Page, operation: str) -> list[Route]:
    """Hold every GraphQL request of `operation` (by its name in the document) until the
    test continues or aborts it; the others go on at once."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        body = route.request.post_data or ""
        if f"mutation {operation}" in body or f"query {operation}" in body:
            held.append(route)
        else:
            route.fallback()

    page.route("**/graphql", hold)
    return held


def wait_for_held(page: Page, held: list[Route], timeout_s: float = 30.0) -> None:
    """Until one request is held (waiting in the page lets playwright run the handler)."""
    for _ in range(int(timeout_s / 0.05)):
        if held:
            return
        page.wait_for_timeout(50)
    raise AssertionError("no request was held")


def test_the_dataset_toggle_behaves_like_the_legacy_component_and_survives_a_reload(
    console: Console, browser_page: OfflinePage
):
    page = browser_page.page
    # given: a plain user (no role) with one dataset
    owner = console.account("owner")
    created = console.upload(owner, f"flags-{uuid.uuid4().hex[:4]}", b"a,b\n1,2\n3,4\n")
    sign_in(page, console, owner.user.username, DEFAULT_PASSWORD)
    expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
    button = page.locator(f'#datasets-table button[data-dataset-id="{created["id"]}"]')
    expect(button).to_have_text("Mark as Trained")
    expect(button).to_have_class("btn btn-default")
    held = held_requests(page, "SetTrainingStatus")

    # when: clicked, while the request is under way
    button.click()

    # then: disabled, "Updating..."; once answered, the new state and the legacy message
    expect(button).to_have_text("Updating...")
    expect(button).to_be_disabled()
    wait_for_held(page, held)
    held[0].continue_()
    expect(button).to_have_text("✓ Trained")
    expect(button).to_be_enabled()
    expect(button).to_have_class("btn btn-success")
    expect(page.locator("#toasts")).to_contain_text("Dataset marked as trained")
    status = console.graphql(
        "query($id: UUID!) { dataset(id: $id) { trainingStatus } }",
        {"id": created["id"]},
        token=owner.token,
    )
    assert status == {"data": {"dataset": {"trainingStatus": "TRAINED"}}}

    # when / then: the state survives a reload, and a second click flips it back
    page.unroute("**/graphql")
    page.reload()
    expect(button).to_have_text("✓ Trained")
    button.click()
    expect(button).to_have_text("Mark as Trained")

    # when: the request fails
    held = held_requests(page, "SetTrainingStatus")
    button.click()
    expect(button).to_be_disabled()
    wait_for_held(page, held)
    held[0].abort("connectionreset")

    # then: an error message, and the state it had
    expect(page.locator(".toggle-error")).to_contain_text(
        "Failed to update training status: The server could not be reached"
    )
    expect(button).to_have_text("Mark as Trained")
    expect(button).to_be_enabled()


def test_a_refused_upload_shows_the_servers_message_and_adds_nothing(
    console: Console, browser_page: OfflinePage, tmp_path: Path
):
    page = browser_page.page
    owner = console.account("uploader")
    (tmp_path / "twice.csv").write_bytes(b"a,b,a\n1,2,3\n")
    sign_in(page, console, owner.user.username, DEFAULT_PASSWORD)

    page.get_by_label("CSV file").set_input_files(str(tmp_path / "twice.csv"))
    page.get_by_role("button", name="Upload").click()

    expect(page.locator("#upload-error")).to_have_text(
        "The upload failed: The header row repeats column names: a; names must be unique."
    )
    expect(page.get_by_role("button", name="Upload")).to_be_enabled()
    listed = console.graphql("{ datasets { totalCount } }", token=owner.token)
    assert listed == {"data": {"datasets": {"totalCount": 0}}}


# --- predictions (issue 12) ----------------------------------------------------------------

PREDICT = """
query Predict($input: PredictInput!) {
  predict(input: $input) { predictions { label probabilities { label probability } } }
}
"""


def test_the_predict_form_is_built_from_the_input_schema_and_answers(
    console: Console, browser_page: OfflinePage
):
    page = browser_page.page
    # given: a real model on the default dataset, and one of that dataset's rows
    admin_token = console.token("admin", ADMIN_PASSWORD)
    trained = console.graphql(
        TRAIN, {"input": {"hyperparameters": {"nEstimators": 30}}}, token=admin_token
    )
    run_id = trained["data"]["trainModel"]["trainingRun"]["id"]
    schema = console.graphql(
        "query($id: ID!) { trainingRun(id: $id) { inputSchema { name kind categories } } }",
        {"id": run_id},
        token=admin_token,
    )["data"]["trainingRun"]["inputSchema"]
    default_csv = Path(__file__).resolve().parents[2] / "trainql/ml/data/future_skills_dataset.csv"
    header, first = default_csv.read_text().splitlines()[:2]
    row = dict(zip(header.split(","), first.split(","), strict=True))
    sign_in(page, console, "admin", ADMIN_PASSWORD)
    open_route(page, console, f"/runs/{run_id}")

    # when: one field per input column, filled with the row's values, and Predict
    form = page.locator("#predict-form")
    expect(form).to_be_visible()
    values: dict[str, Any] = {}
    for column in schema:
        control = form.get_by_label(column["name"], exact=True)
        if column["kind"] == "CATEGORICAL":
            assert control.evaluate("e => e.tagName") == "SELECT"
            choice = row[column["name"]]
            if choice not in column["categories"]:  # seen only in the test split
                choice = column["categories"][0]
            control.select_option(choice)
            values[column["name"]] = choice
        else:
            assert control.get_attribute("type") == "number"
            control.fill(row[column["name"]])
            values[column["name"]] = float(row[column["name"]])
    form.get_by_role("button", name="Predict").click()

    # then: the label the API predicts for that row, and one probability per class
    expected = console.graphql(
        PREDICT, {"input": {"trainingRunId": run_id, "rows": [values]}}, token=admin_token
    )["data"]["predict"]["predictions"][0]
    expect(page.locator("#predicted-label")).to_have_text(expected["label"])
    probabilities = page.locator("#prediction-probabilities tbody tr")
    assert sorted(probabilities.locator("th").all_inner_texts()) == sorted(
        p["label"] for p in expected["probabilities"]
    )
    shown = [float(v) for v in probabilities.locator("td.num").all_inner_texts()]
    assert abs(sum(shown) - 1) < 0.01


# --- roles and errors ----------------------------------------------------------------------


def test_a_manager_sees_no_train_button_and_a_refused_call_shows_its_error(
    console: Console, browser_page: OfflinePage
):
    page = browser_page.page
    # given: a manager with a dataset of their own, and an HR_STAFF user's dataset
    manager = console.account("manager", Role.MANAGER)
    hr = console.account("hr", Role.HR_STAFF)
    own = console.upload(manager, "mine", b"x,y\n1,a\n2,b\n")
    theirs = console.upload(hr, "theirs", b"x,y\n1,a\n2,b\n")
    sign_in(page, console, manager.user.username, DEFAULT_PASSWORD)

    # when: on the manager's own dataset
    open_route(page, console, f"/datasets/{own['id']}")

    # then: no training form, no train button; the runs on it are listed (MANAGER reads runs)
    expect(page.get_by_role("heading", name="Dataset: mine")).to_be_visible()
    expect(page.get_by_role("heading", name="Runs on this dataset")).to_be_visible()
    assert page.locator("#train-form").count() == 0
    assert page.get_by_role("button", name="Train on this dataset").count() == 0
    assert page.get_by_role("heading", name="Train on this dataset").count() == 0

    # when: the other user's dataset, which the API refuses to show the manager
    open_route(page, console, f"/datasets/{theirs['id']}")

    # then: the server's message and code, not a blank page
    expect(page.get_by_role("heading", name="The dataset could not be shown")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text="permission")).to_have_text(
        "You don't have permission to read this dataset"
    )
    expect(page.locator(".error-code")).to_have_text("Error code: FORBIDDEN")


def test_a_user_without_a_role_is_refused_the_runs_with_the_servers_message(
    console: Console, browser_page: OfflinePage
):
    page = browser_page.page
    plain = console.account("plain")
    sign_in(page, console, plain.user.username, DEFAULT_PASSWORD)
    # the runs are not offered to a user who may not read them
    expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs")
    ).to_be_hidden()

    open_route(page, console, "/runs")

    expect(
        page.get_by_role("heading", name="The training runs could not be listed")
    ).to_be_visible()
    expect(page.locator(".error-message")).to_have_text(
        "You do not have permission to perform this action. Required role: HR_STAFF or MANAGER."
    )
    expect(page.locator(".error-code")).to_have_text("Error code: FORBIDDEN")


def test_graphql_errors_show_their_message_never_a_blank_page(
    console: Console, browser_page: OfflinePage
):
    page = browser_page.page
    sign_in(page, console, "admin", ADMIN_PASSWORD)

    # an unknown run
    open_route(page, console, "/runs/987654321")
    expect(page.locator(".error-message")).to_have_text("Not found.")
    expect(page.locator(".error-code")).to_have_text("Error code: NOT_FOUND")

    # a cursor this server never issued, in a hand-edited link: the message, under the
    # filters, which stay usable
    open_route(page, console, "/runs?after=not-a-cursor")
    expect(page.locator(".error-code")).to_have_text("Error code: BAD_USER_INPUT")
    expect(page.locator(".error-message")).to_contain_text("after")
    expect(page.get_by_role("heading", name="Training runs", exact=True)).to_be_visible()

    # a dataset id that is no UUID, typed in the filter
    page.get_by_label("Dataset id").fill("not-a-uuid")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".error-code")).to_have_text("Error code: BAD_USER_INPUT")
    expect(page.locator(".error-message")).to_contain_text("not-a-uuid")

    # and clearing the filters brings the runs back
    page.get_by_role("button", name="Clear filters").click()
    expect(page.locator("#runs-summary")).to_contain_text("runs in all")


# --- charts, keyboard, first load ------------------------------------------------------------


def test_accuracy_over_time_is_a_line_chart_with_its_numbers_as_text(
    console: Console, browser_page: OfflinePage
):
    page = browser_page.page
    # given: four completed runs of one version family, out of date order, and one other
    tag = uuid.uuid4().hex[:6]
    accuracies = {1: 0.71, 2: 0.74, 3: 0.79, 4: 0.83}
    rows = [
        {
            "run_date": datetime.now(UTC) - timedelta(days=10 - n),
            "model_version": f"acc{tag}-v{n}",
            "status": "COMPLETED",
            "accuracy": accuracy,
        }
        for n, accuracy in [(3, 0.79), (1, 0.71), (4, 0.83), (2, 0.74)]
    ]
    rows.append({"model_version": f"zz{tag}", "status": "COMPLETED", "accuracy": 0.5})
    console.with_factory(lambda factory: factory.training_runs(rows))
    sign_in(page, console, "admin", ADMIN_PASSWORD)

    # when
    open_route(page, console, f"/accuracy?prefix=acc{tag}-")

    # then: one point per run, oldest first, each with its accuracy as text in the table,
    # and the drawing described for screen readers
    expect(page.locator("#accuracy-summary")).to_contain_text(
        f"4 completed runs of versions starting with “acc{tag}-”"
    )
    points = page.locator("#accuracy-points tbody tr")
    versions = [
        text.split(" ", 1)[1] for text in points.locator("td:nth-child(2)").all_inner_texts()
    ]
    assert versions == [f"acc{tag}-v{n}" for n in (1, 2, 3, 4)]
    assert points.locator("td.num").all_inner_texts() == [
        f"{accuracies[n]:.3f}" for n in (1, 2, 3, 4)
    ]
    chart = page.locator("svg.line-chart")
    assert chart.get_attribute("role") == "img"
    assert "4 runs" in str(chart.get_attribute("aria-label"))
    assert "accuracy from 0.710 to 0.830" in str(chart.get_attribute("aria-label"))
    assert chart.locator("circle").count() == 4


def focus_by_tab(page: Page, selector: str, limit: int = 120) -> None:
    """Press Tab until the focused element matches `selector` (as a keyboard user would),
    once the view on screen is complete."""
    wait_until_shown(page)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_a_keyboard_alone_signs_in_pages_opens_a_run_compares_and_toggles(
    console: Console, browser_page: OfflinePage
):
    page = browser_page.page
    # given: a trainer with 12 runs and a dataset
    trainer = console.account("keys", Role.HR_STAFF, Role.MANAGER)
    tag = uuid.uuid4().hex[:6]
    ids = console.with_factory(
        lambda factory: factory.training_runs(
            [
                {
                    "run_date": BASE_DATE + timedelta(minutes=i),
                    "model_version": f"key-{tag}-{i:02d}",
                    "status": "COMPLETED",
                    "accuracy": 0.6 + i / 100,
                    "trained_by_id": trainer.user.id,
                }
                for i in range(12)
            ]
        )
    )
    created = console.upload(trainer, "keyboard", b"a,b\n1,2\n")
    page.goto(console.url())

    # sign in: the username field has the focus; type, Tab, type, Enter
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(trainer.user.username)
    page.keyboard.press("Tab")
    page.keyboard.type(DEFAULT_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#signed-in-user")).to_have_text(trainer.user.username)

    # filter on the trainer and 10 a page, by keyboard
    focus_by_tab(page, 'input[name="trainedBy"]')
    page.keyboard.type(trainer.user.username)
    focus_by_tab(page, 'select[name="size"]')
    page.keyboard.press("Home")  # the first option: 10
    focus_by_tab(page, 'button[data-focus-key="apply"]')
    page.keyboard.press("Enter")
    expect(page.locator("#runs-summary")).to_contain_text(
        "12 runs match the filters; 10 on this page"
    )

    # next page and back, the focus staying on the pager
    focus_by_tab(page, 'button[data-focus-key="next"]')
    page.keyboard.press("Enter")
    expect(page.locator("#runs-table tbody tr")).to_have_count(2)
    expect(page.get_by_role("button", name="← Previous")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#runs-table tbody tr")).to_have_count(10)

    # select two runs with Space and compare them
    newest, second = str(ids[11]), str(ids[10])
    for run_id in (newest, second):
        focus_by_tab(page, f'tr[data-run-id="{run_id}"] input[type="checkbox"]')
        page.keyboard.press("Space")
    focus_by_tab(page, 'button[data-focus-key="compare"]')
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Compare 2 runs")).to_be_focused()

    # open a run from its link
    focus_by_tab(page, f'a[href="#/runs/{newest}"]')
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Run {newest}: key-{tag}-11")).to_be_focused()

    # the dataset toggle, with Space, keeps the focus
    page.goto(console.url(f"/datasets/{created['id']}"))
    expect(page.get_by_role("heading", name="Dataset: keyboard")).to_be_focused()
    focus_by_tab(page, f'button[data-dataset-id="{created["id"]}"]')
    page.keyboard.press("Space")
    toggle = page.locator(f'button[data-dataset-id="{created["id"]}"]')
    expect(toggle).to_have_text("✓ Trained")
    expect(toggle).to_be_focused()

    # and sign out
    focus_by_tab(page, "#sign-out")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Username")).to_be_focused()


def test_the_first_load_is_under_300_kb_and_leaves_for_no_other_host(
    console: Console, browser_page: OfflinePage
):
    page = browser_page.page
    token = console.token("admin", ADMIN_PASSWORD)
    page.goto(console.url())
    page.evaluate(f"localStorage.setItem('token', {token!r})")
    page.goto("about:blank")
    browser_page.transferred.clear()
    browser_page.responses.clear()

    # when: a first visit (empty cache) of the runs page, signed in
    page.context.clear_cookies()
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.clearBrowserCache")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    page.goto(console.url("/runs"))
    page.wait_for_selector("html[data-ready]")
    expect(page.get_by_role("heading", name="Training runs", exact=True)).to_be_visible()
    page.wait_for_load_state("networkidle")

    # then: everything came from this server, and it weighed under 300 KB in all
    total = sum(size for _, size in browser_page.transferred)
    assert total < FIRST_LOAD_LIMIT, browser_page.transferred
    assert browser_page.blocked == []
    hosts = {httpx.URL(url).host for url, _ in browser_page.transferred}
    assert hosts == {"127.0.0.1"}
    static = [path for path in browser_page.responses if path.startswith("/console/static/")]
    assert len(static) >= 10  # every module, the stylesheet and the icon
    assert all(status == 200 for status in browser_page.responses.values())


# --- the documents the console sends ------------------------------------------------------

# Issue 12's and issue 13's schema blocks (their names are the contract), as SDL extending
# today's schema: what the console's predict form and sign-out are written against. Each
# applies only while the server's schema lacks it; then its documents must fail today.
ISSUE_12 = """
input PredictInput { trainingRunId: ID, modelVersion: String, alias: String, rows: [JSON!]! }
type ClassProbability { label: String!, probability: Float! }
type Prediction { label: String!, probabilities: [ClassProbability!]! }
type PredictionResult {
  trainingRun: TrainingRun!, predictions: [Prediction!]!, ignoredColumns: [String!]!
}
enum FeatureKind { CATEGORICAL NUMERIC }
type FeatureColumn { name: String!, kind: FeatureKind!, categories: [String!] }
extend type Query { predict(input: PredictInput!): PredictionResult! }
extend type TrainingRun { inputSchema: [FeatureColumn!], aliases: [String!]! }
"""
ISSUE_13 = "extend type Mutation { revokeToken: Boolean! }"
CONTRACT = [  # (the field that shows it landed, its SDL, the documents that need it)
    ("Query", "predict", ISSUE_12, {"INPUT_SCHEMA", "PREDICT"}),
    ("Mutation", "revokeToken", ISSUE_13, {"REVOKE_TOKEN"}),
]

DOCUMENTS_SCRIPT = """async (url) => {
  const queries = await import(url);
  const documents = {};
  for (const [name, value] of Object.entries(queries)) {
    if (typeof value === "string") documents[name] = value;
  }
  for (let n = 2; n <= 5; n += 1) documents[`compareRuns(${n})`] = queries.compareRuns(n);
  return documents;
}"""


def test_every_document_the_console_sends_is_valid_against_the_schema_or_the_contract(
    console: Console, browser_page: OfflinePage
):
    page = browser_page.page
    # given: every GraphQL document of queries.js, as the browser's module holds them
    page.goto(console.url("/signin"))
    queries = page.locator('link[rel="modulepreload"][href$="/queries.js"]').get_attribute("href")
    documents: dict[str, str] = page.evaluate(
        DOCUMENTS_SCRIPT, f"{console.server.base_url}{queries}"
    )
    today = build_schema(graphql_schema.as_str())
    contract, missing = today, set()
    for type_name, field_name, sdl, needing in CONTRACT:
        root = today.get_type(type_name)
        assert isinstance(root, GraphQLObjectType)
        if field_name not in root.fields:
            contract = extend_schema(contract, parse(sdl))
            missing |= needing

    # when
    invalid_today = {
        name for name, document in documents.items() if validate(today, parse(document))
    }
    invalid_with_the_contract = {
        name: [error.message for error in validate(contract, parse(document))]
        for name, document in documents.items()
        if validate(contract, parse(document))
    }

    # then: all of them hold with issues 12 and 13; today, only the ones that need them fail
    assert len(documents) >= 18
    assert invalid_with_the_contract == {}
    assert invalid_today == missing


# --- Firefox -------------------------------------------------------------------------------

FIREFOX = Path(os.environ.get("TRAINQL_TEST_FIREFOX", "/usr/bin/firefox-esr"))
FIREFOX_DRIVER = Path(__file__).with_name("firefox")  # package.json: puppeteer-core, pinned


def test_the_console_works_in_firefox(console: Console, tmp_path: Path):
    """The main journey in Debian's firefox-esr, over WebDriver BiDi (firefox/journey.mjs):
    sign-in, the runs table paged both ways, the heat map, the toggle, a training followed
    live over the WebSocket, with no other host asked and no CSP violation."""
    node = shutil.which("node")
    require(FIREFOX.is_file(), f"no firefox at {FIREFOX} (apt-get install firefox-esr)")
    require(node is not None, "no node to run puppeteer-core")
    require(
        (FIREFOX_DRIVER / "node_modules" / "puppeteer-core").is_dir(),
        f"puppeteer-core is not installed: run `npm ci` in {FIREFOX_DRIVER}",
    )
    # given: a trainer with 12 runs of known accuracy, a real run, and a dataset to train on
    trainer = console.account("firefox", Role.HR_STAFF, Role.MANAGER)
    tag = uuid.uuid4().hex[:6]
    rows: list[dict[str, Any]] = [
        {
            "run_date": BASE_DATE + timedelta(minutes=i),
            "model_version": f"ff-{tag}-{i:02d}",
            "status": "COMPLETED",
            "accuracy": round(0.6 + ((i * 5) % 12) / 100, 2),
            "trained_by_id": trainer.user.id,
        }
        for i in range(12)
    ]
    ids = console.with_factory(lambda factory: factory.training_runs(rows))
    order = sorted(range(12), key=lambda i: (-rows[i]["accuracy"], -ids[i]))
    expected = [str(ids[i]) for i in order]
    admin_token = console.token("admin", ADMIN_PASSWORD)  # (so it is not the trainer's)
    trained = console.graphql(
        TRAIN, {"input": {"hyperparameters": {"nEstimators": 20}}}, token=admin_token
    )
    run_id = trained["data"]["trainModel"]["trainingRun"]["id"]
    stored = console.graphql(RUN_DETAILS, {"id": run_id}, token=admin_token)["data"]["trainingRun"]
    dataset = console.upload(trainer, "firefox", skills_csv(tmp_path, 4000))
    config = {
        "firefox": str(FIREFOX),
        "base": console.server.base_url,
        "username": trainer.user.username,
        "password": DEFAULT_PASSWORD,
        "trainer": trainer.user.username,
        "runId": run_id,
        "datasetId": dataset["id"],
        "trees": 300,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))

    # when
    done = subprocess.run(
        [str(node), str(FIREFOX_DRIVER / "journey.mjs"), str(tmp_path / "config.json")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=FIREFOX_DRIVER,
    )

    # then
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert "error" not in report, report["error"]
    steps = report["steps"]
    assert steps["wrongPassword"] == "Unable to log in with provided credentials."
    assert steps["signedIn"] == trainer.user.username
    assert console.graphql("{ me { username } }", token=steps["token"])["data"]["me"] == {
        "username": trainer.user.username
    }
    assert steps["firstPage"] == expected[:10]
    assert steps["secondPage"] == expected[10:]
    assert steps["backPage"] == expected[:10]
    assert steps["matrix"] == stored["confusionMatrix"]["matrix"]
    assert steps["importances"] == [
        f["feature"] for f in sorted(stored["featureImportances"], key=lambda f: -f["importance"])
    ]
    assert steps["toggleBefore"] == "Mark as Trained"
    assert steps["toggleAfterReload"] == "✓ Trained"
    assert steps["timeline"] == ["QUEUED", "RUNNING", "COMPLETED"]
    assert steps["sameDocument"] is True
    assert report["pageErrors"] == []
    assert report["cspViolations"] == []
    hosts = {httpx.URL(url).host for url in report["requests"] if not url.startswith("data:")}
    assert hosts == {"127.0.0.1"}
    assert report["userAgent"].startswith("firefox/")
