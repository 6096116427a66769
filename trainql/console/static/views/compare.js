// Two to five runs side by side (#/compare?ids=3,7): their metrics with each one's
// difference from the first run, their hyperparameters, and their feature importances
// overlaid on one scale.

import { graphql } from "../api.js";
import { groupedBars } from "../charts.js";
import { delta, field, h, metric, seconds, srOnly, statusBadge } from "../dom.js";
import { compareRuns } from "../queries.js";
import { alertBox, pageHeading, showError } from "../ui.js";
import { compareSelection } from "./selection.js";

export const errorHeading = "The runs could not be compared";

const MIN = 2;
const MAX = 5;
const METRICS = [
  ["accuracy", "Accuracy", true],
  ["precision", "Precision", true],
  ["recall", "Recall", true],
  ["f1Score", "F1 score", true],
  ["trainingDurationSeconds", "Training time", false],
];

function parseIds(text) {
  return [
    ...new Set(
      String(text ?? "")
        .split(/[\s,]+/)
        .filter(Boolean),
    ),
  ];
}

function chooser(ctx, ids, message) {
  const input = h("input", { name: "ids", value: ids.join(", "), placeholder: "3, 7" });
  const error = alertBox();
  if (message) showError(error, message);
  const form = h(
    "form",
    { class: "card narrow", id: "compare-chooser" },
    field("Run ids", input, `${MIN} to ${MAX}, separated by commas`),
    error,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "btn btn-primary" }, "Compare"),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = parseIds(input.value);
    if (chosen.length < MIN || chosen.length > MAX) {
      showError(error, `Give ${MIN} to ${MAX} run ids; you gave ${chosen.length}.`);
      input.focus();
      return;
    }
    ctx.navigate("/compare", { ids: chosen.join(",") });
  });
  const selected = compareSelection().ids();
  return {
    title: "Compare runs",
    node: h(
      "section",
      null,
      pageHeading("Compare runs"),
      h(
        "p",
        null,
        "Select runs in the ",
        h("a", { href: "#/runs" }, "runs table"),
        " or give their ids.",
      ),
      selected.length
        ? h("p", null, `Selected in the table: ${selected.map((id) => `#${id}`).join(", ")}.`)
        : null,
      form,
    ),
  };
}

function runHeading(run, index) {
  return h(
    "th",
    { scope: "col", class: "num" },
    h("span", { class: `swatch series-${index}`, "aria-hidden": "true" }),
    h("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, `#${run.id} ${run.modelVersion}`),
    index === 0 ? h("span", { class: "baseline" }, " (baseline)") : null,
  );
}

function metricsTable(runs) {
  const rows = METRICS.map(([key, label, higherIsBetter]) => {
    const values = runs.map((run) => run.metrics?.[key] ?? null);
    const known = values.filter((value) => value !== null);
    const best = known.length ? (higherIsBetter ? Math.max(...known) : Math.min(...known)) : null;
    const format = key === "trainingDurationSeconds" ? seconds : metric;
    return h(
      "tr",
      { dataset: { metric: key } },
      h("th", { scope: "row" }, label),
      values.map((value, i) => {
        const base = values[0];
        const difference = i > 0 && value !== null && base !== null ? value - base : null;
        const better =
          difference === null || Math.abs(difference) < 0.0005
            ? ""
            : difference > 0 === higherIsBetter
              ? "better"
              : "worse";
        return h(
          "td",
          { class: "num" },
          h("span", { class: "value" }, format(value)),
          difference !== null
            ? h(
                "span",
                { class: `delta ${better}` },
                " (",
                key === "trainingDurationSeconds"
                  ? `${difference >= 0 ? "+" : "−"}${seconds(Math.abs(difference))}`
                  : delta(difference),
                srOnly(" from the baseline"),
                ")",
              )
            : null,
          value !== null && value === best && known.length > 1
            ? h(
                "span",
                { class: "best" },
                h("span", { "aria-hidden": "true" }, " ★"),
                srOnly(" best"),
              )
            : null,
        );
      }),
    );
  });
  return h(
    "table",
    { class: "compare", id: "compare-metrics" },
    h(
      "caption",
      null,
      "Metrics on each run's test split; in brackets, the difference from the baseline (the first run)",
    ),
    h("thead", null, h("tr", null, h("td"), runs.map(runHeading))),
    h("tbody", null, rows),
  );
}

function detailsTable(runs) {
  const text = (value) => (value === null || value === undefined ? "—" : String(value));
  const rows = [
    ["Status", (run) => statusBadge(run.status)],
    ["Dataset", (run) => run.dataset?.name ?? run.datasetPath],
    ["Target column", (run) => run.targetColumn],
    ["Test split", (run) => text(run.testSplit)],
    ["Trees", (run) => text(run.hyperparameters.nEstimators)],
    [
      "Maximum depth",
      (run) =>
        run.hyperparameters.maxDepth === null ? "unlimited" : text(run.hyperparameters.maxDepth),
    ],
    ["Minimum samples to split", (run) => text(run.hyperparameters.minSamplesSplit)],
  ];
  return h(
    "table",
    { class: "compare", id: "compare-details" },
    h("caption", null, "Training setup"),
    h("thead", null, h("tr", null, h("td"), runs.map(runHeading))),
    h(
      "tbody",
      null,
      rows.map(([label, value]) =>
        h(
          "tr",
          null,
          h("th", { scope: "row" }, label),
          runs.map((run) => h("td", { class: "num" }, value(run))),
        ),
      ),
    ),
  );
}

export async function render(ctx) {
  const ids = parseIds(ctx.query.get("ids"));
  if (ids.length === 0) return chooser(ctx, [], null);
  if (ids.length < MIN || ids.length > MAX) {
    return chooser(ctx, ids, `Give ${MIN} to ${MAX} run ids; the link has ${ids.length}.`);
  }
  const variables = Object.fromEntries(ids.map((id, i) => [`id${i}`, id]));
  const data = await graphql(compareRuns(ids.length), variables, { signal: ctx.signal });
  const runs = ids.map((_, i) => data[`r${i}`]);
  const importances = groupedBars({
    id: "compare-importances",
    caption: "Feature importances of each run (mean decrease in impurity)",
    runs: runs.map((run) => ({
      name: `#${run.id} ${run.modelVersion}`,
      values: new Map(run.featureImportances.map((item) => [item.feature, item.importance])),
    })),
  });
  return {
    title: `Compare ${ids.map((id) => `#${id}`).join(", ")}`,
    node: h(
      "section",
      { class: "compare-view" },
      pageHeading(`Compare ${runs.length} runs`),
      h(
        "p",
        null,
        h("a", { href: "#/compare", dataset: { focusKey: "change" } }, "Compare other runs"),
      ),
      h(
        "section",
        { class: "card wide", "aria-labelledby": "cmp-metrics" },
        h("h2", { id: "cmp-metrics" }, "Metrics"),
        h("div", { class: "table-wrap" }, metricsTable(runs)),
      ),
      h(
        "section",
        { class: "card wide", "aria-labelledby": "cmp-importances" },
        h("h2", { id: "cmp-importances" }, "Feature importances"),
        importances,
      ),
      h(
        "section",
        { class: "card wide", "aria-labelledby": "cmp-details" },
        h("h2", { id: "cmp-details" }, "Setup"),
        h("div", { class: "table-wrap" }, detailsTable(runs)),
      ),
    ),
  };
}
