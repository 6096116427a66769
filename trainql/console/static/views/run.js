// One run: its metrics, hyperparameters, per-class metrics, the confusion matrix as a heat
// map, the feature importances as sorted bars, its dataset, the error of a FAILED run, and
// the predict form. A QUEUED or RUNNING run is followed live and shown again when it moves.

import { graphql } from "../api.js";
import { barTable, heatMap } from "../charts.js";
import { LIVE_STATUSES, count, h, metric, seconds, statusBadge, timeElement } from "../dom.js";
import { live } from "../live.js";
import { RUN, WATCH_RUN } from "../queries.js";
import { pageHeading } from "../ui.js";
import { predictSection } from "./predict.js";
import { compareSelection } from "./selection.js";

export const errorHeading = "The training run could not be shown";

function definitions(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(Boolean).map(([term, value]) => [h("dt", null, term), h("dd", null, value)]),
  );
}

function section(id, title, ...content) {
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...content);
}

function metricsTable(metrics) {
  const rows = [
    ["Accuracy", metric(metrics.accuracy)],
    ["Precision (weighted)", metric(metrics.precision)],
    ["Recall (weighted)", metric(metrics.recall)],
    ["F1 score (weighted)", metric(metrics.f1Score)],
    ["Training time", seconds(metrics.trainingDurationSeconds)],
  ];
  return h(
    "table",
    { class: "metrics", id: "run-metrics" },
    h("caption", { class: "visually-hidden" }, "Metrics on the test split"),
    h(
      "tbody",
      null,
      rows.map(([name, value]) =>
        h("tr", null, h("th", { scope: "row" }, name), h("td", { class: "num" }, value)),
      ),
    ),
  );
}

function perClassTable(perClass) {
  return h(
    "table",
    { class: "per-class", id: "per-class-metrics" },
    h("caption", { class: "visually-hidden" }, "Metrics per class on the test split"),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        ["Class", "Accuracy", "Precision", "Recall", "F1 score", "Support"].map((name, i) =>
          h("th", { scope: "col", class: i ? "num" : null }, name),
        ),
      ),
    ),
    h(
      "tbody",
      null,
      perClass.map((row) =>
        h(
          "tr",
          null,
          h("th", { scope: "row" }, row.label),
          [row.accuracy, row.precision, row.recall, row.f1Score].map((value) =>
            h("td", { class: "num" }, metric(value)),
          ),
          h("td", { class: "num" }, count(row.support)),
        ),
      ),
    ),
  );
}

export async function render(ctx) {
  const [id] = ctx.params;
  const data = await graphql(RUN, { id }, { signal: ctx.signal });
  const run = data.trainingRun;
  const following = LIVE_STATUSES.has(run.status);
  if (following) {
    const stop = live.subscribe(
      WATCH_RUN,
      { id: run.id },
      {
        next: (update) => {
          if (update?.trainingRunUpdated && update.trainingRunUpdated.status !== run.status)
            ctx.refresh();
        },
        error: (error) =>
          ctx.toast(`Live updates of run ${run.id} stopped: ${error.message}`, "error"),
      },
    );
    ctx.onCleanup(stop);
  }
  const selection = compareSelection();
  const compareToggle = h("button", {
    type: "button",
    class: "btn btn-quiet",
    dataset: { focusKey: "compare-toggle" },
  });
  const paintToggle = () => {
    compareToggle.textContent = selection.has(run.id)
      ? "Remove from comparison"
      : "Add to comparison";
  };
  compareToggle.addEventListener("click", () => {
    if (selection.has(run.id)) selection.remove(run.id);
    else selection.add(run.id);
    paintToggle();
    ctx.toast(`${selection.ids().length} run(s) selected for comparison.`);
  });
  paintToggle();

  const summary = definitions([
    ["Status", statusBadge(run.status)],
    ["Run date", timeElement(run.runDate)],
    ["Trained by", run.trainedBy?.username ?? "—"],
    run.dataset
      ? [
          "Dataset",
          h(
            "a",
            { href: `#/datasets/${encodeURIComponent(run.dataset.id)}`, id: "run-dataset" },
            run.dataset.name,
          ),
        ]
      : null,
    ["Dataset file", h("code", null, run.datasetPath)],
    ["Target column", h("code", null, run.targetColumn)],
    [
      "Samples",
      `${count(run.totalSamples)} (train ${count(run.trainSamples)}, test ${count(run.testSamples)})`,
    ],
    ["Test split", String(run.testSplit)],
    ["Random state", String(run.randomState)],
    run.notes ? ["Notes", run.notes] : null,
  ]);

  const failed =
    run.status === "FAILED"
      ? h(
          "div",
          { class: "failure", role: "alert", id: "run-error" },
          h("h2", null, "The training failed"),
          h("p", null, run.errorMessage ?? "No error message was recorded."),
        )
      : null;
  const pending = following
    ? h(
        "p",
        { class: "notice", role: "status" },
        `This run is ${run.status}; the page follows it and shows the results when it ends.`,
      )
    : null;

  const hp = run.hyperparameters;
  const content = [
    section("summary-heading", "Summary", summary),
    run.metrics ? section("metrics-heading", "Metrics", metricsTable(run.metrics)) : null,
    section(
      "hyperparameters-heading",
      "Hyperparameters",
      definitions([
        ["Trees (n_estimators)", String(hp.nEstimators)],
        ["Maximum depth (max_depth)", hp.maxDepth === null ? "unlimited" : String(hp.maxDepth)],
        ["Minimum samples to split (min_samples_split)", String(hp.minSamplesSplit)],
      ]),
    ),
    run.perClassMetrics.length
      ? section("per-class-heading", "Per-class metrics", perClassTable(run.perClassMetrics))
      : null,
    run.confusionMatrix
      ? section(
          "confusion-heading",
          "Confusion matrix",
          heatMap({
            ...run.confusionMatrix,
            caption:
              "Test samples by actual class (rows) and predicted class (columns); darker means more, the diagonal holds the right answers.",
          }),
        )
      : null,
    run.featureImportances.length
      ? section(
          "importances-heading",
          "Feature importances",
          barTable({
            id: "feature-importances",
            caption: "Mean decrease in impurity per input feature, largest first",
            items: run.featureImportances.map((item) => ({
              label: item.feature,
              value: item.importance,
            })),
            valueHeading: "Importance",
            format: (value) => value.toFixed(4),
          }),
        )
      : null,
    run.status === "COMPLETED" ? predictSection(run, ctx) : null,
  ];

  return {
    title: `Run ${run.id} (${run.modelVersion})`,
    node: h(
      "article",
      { class: "run-view", dataset: { runId: run.id, status: run.status } },
      h("p", { class: "breadcrumbs" }, h("a", { href: "#/runs" }, "← All runs")),
      pageHeading(`Run ${run.id}: `, h("span", { class: "version" }, run.modelVersion)),
      h(
        "div",
        { class: "actions" },
        compareToggle,
        h(
          "a",
          {
            class: "btn btn-quiet",
            href: `#/accuracy?prefix=${encodeURIComponent(versionPrefix(run.modelVersion))}`,
          },
          "Accuracy over time for similar versions",
        ),
      ),
      failed,
      pending,
      h("div", { class: "cards" }, content),
    ),
  };
}

/** A version's family: "churn-v3.2" → "churn-v", "api_v20251127_163000" → "api_v". */
export function versionPrefix(version) {
  const prefix = version.replace(/[0-9][0-9._-]*$/, "");
  return prefix || version;
}
