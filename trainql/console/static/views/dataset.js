// One dataset: its columns and row count, the training-status toggle, the runs trained on it,
// and (HR_STAFF only) "Train on this dataset": a background training followed live,
// QUEUED → RUNNING → COMPLETED, through the trainingRunUpdated subscription.

import { graphql } from "../api.js";
import { count, field, h, metric, replace, statusBadge, timeElement } from "../dom.js";
import { live } from "../live.js";
import { DATASET, DATASET_RUNS, TRAIN, WATCH_RUN } from "../queries.js";
import { alertBox, errorPanel, hasRole, pageHeading, showError } from "../ui.js";
import { legacyStatus, trainingStatusButton } from "./status-button.js";

export const errorHeading = "The dataset could not be shown";

const TRAIN_FIELDS = {
  targetColumn: "targetColumn",
  testSplit: "testSplit",
  nEstimators: "hyperparameters.nEstimators",
  maxDepth: "hyperparameters.maxDepth",
  minSamplesSplit: "hyperparameters.minSamplesSplit",
  modelVersion: "modelVersion",
  notes: "notes",
};

/** The panel following one training: a timeline of the statuses seen, then the outcome. */
function follower(run, ctx) {
  const timeline = h("ol", { class: "timeline", id: "training-timeline" });
  const outcome = h("div", { class: "outcome", role: "status", id: "training-outcome" });
  const current = h("p", { class: "current" });
  let last = null;
  const show = (status, when = new Date()) => {
    if (status === last) return;
    last = status;
    timeline.append(
      h(
        "li",
        { dataset: { status } },
        statusBadge(status),
        " at ",
        h("time", { datetime: when.toISOString() }, when.toISOString().slice(11, 19)),
        " UTC",
      ),
    );
    current.replaceChildren(`Run ${run.id} (${run.modelVersion}) is `, statusBadge(status), ".");
  };
  show(run.status);
  const stop = live.subscribe(
    WATCH_RUN,
    { id: run.id },
    {
      next: (data) => {
        const update = data?.trainingRunUpdated;
        if (!update) return;
        show(update.status);
        if (update.status === "COMPLETED") {
          outcome.replaceChildren(
            h(
              "p",
              null,
              `Completed: accuracy ${metric(update.accuracy)}, F1 score ${metric(update.f1Score)}. `,
              h(
                "a",
                { href: `#/runs/${encodeURIComponent(run.id)}`, id: "trained-run-link" },
                `Open run ${run.id}`,
              ),
            ),
          );
        } else if (update.status === "FAILED") {
          outcome.replaceChildren(
            h(
              "p",
              { class: "alert" },
              `The training failed: ${update.errorMessage ?? "no message recorded"}`,
            ),
          );
        }
      },
      error: (error) =>
        outcome.replaceChildren(
          h("p", { class: "alert" }, `Live updates stopped: ${error.message}`),
        ),
    },
  );
  ctx.onCleanup(stop);
  return h(
    "div",
    { class: "follower", "aria-live": "polite" },
    current,
    h("h3", null, "Statuses seen"),
    timeline,
    outcome,
  );
}

function trainForm(dataset, ctx) {
  const columns = dataset.columns;
  const defaultTarget = columns.includes("future_need_level")
    ? "future_need_level"
    : columns.at(-1);
  const inputs = {
    targetColumn: h(
      "select",
      { name: "targetColumn" },
      columns.map((column) =>
        h("option", { value: column, selected: column === defaultTarget }, column),
      ),
    ),
    testSplit: h("input", {
      name: "testSplit",
      type: "number",
      min: 0.1,
      max: 0.5,
      step: 0.05,
      value: "0.2",
    }),
    nEstimators: h("input", {
      name: "nEstimators",
      type: "number",
      min: 1,
      max: 1000,
      step: 1,
      value: "100",
    }),
    maxDepth: h("input", {
      name: "maxDepth",
      type: "number",
      min: 1,
      max: 100,
      step: 1,
      placeholder: "unlimited",
    }),
    minSamplesSplit: h("input", {
      name: "minSamplesSplit",
      type: "number",
      min: 2,
      step: 1,
      value: "2",
    }),
    modelVersion: h("input", {
      name: "modelVersion",
      placeholder: "default: api_v<timestamp>",
      pattern: "[A-Za-z0-9._-]+",
    }),
    notes: h("input", { name: "notes" }),
  };
  const fieldErrors = Object.fromEntries(
    Object.keys(inputs).map((key) => [
      key,
      h("span", { class: "field-error", id: `train-${key}-error` }),
    ]),
  );
  const labelled = (label, key, hint) => {
    const node = field(label, inputs[key], hint);
    node.append(fieldErrors[key]);
    return node;
  };
  const submit = h(
    "button",
    { type: "submit", class: "btn btn-primary", id: "train-button" },
    "Train on this dataset",
  );
  const error = alertBox();
  error.id = "train-error";
  const progress = h("div", { class: "progress", id: "training-progress" });
  const form = h(
    "form",
    { class: "train-form", id: "train-form", novalidate: true },
    h(
      "div",
      { class: "field-row" },
      labelled("Target column", "targetColumn"),
      labelled("Test split", "testSplit", "0.1 to 0.5"),
      labelled("Trees", "nEstimators", "1 to 1000"),
    ),
    h(
      "div",
      { class: "field-row" },
      labelled("Maximum depth", "maxDepth", "1 to 100; empty for unlimited"),
      labelled("Minimum samples to split", "minSamplesSplit", "2 or more"),
      labelled("Model version", "modelVersion", "letters, digits, . _ -; unique"),
    ),
    h("div", { class: "field-row" }, labelled("Notes", "notes")),
    error,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const [key, node] of Object.entries(fieldErrors)) {
      node.textContent = "";
      inputs[key].removeAttribute("aria-invalid");
    }
    showError(error, null);
    const number = (input) => (input.value === "" ? null : Number(input.value));
    const input = {
      datasetId: dataset.id,
      targetColumn: inputs.targetColumn.value,
      testSplit: number(inputs.testSplit) ?? 0.2,
      // An empty field keeps the server's default; an empty depth means unlimited (null).
      hyperparameters: Object.fromEntries(
        [
          ["nEstimators", number(inputs.nEstimators)],
          ["maxDepth", number(inputs.maxDepth)],
          ["minSamplesSplit", number(inputs.minSamplesSplit)],
        ].filter(([key, value]) => value !== null || key === "maxDepth"),
      ),
      modelVersion: inputs.modelVersion.value.trim() || null,
      notes: inputs.notes.value,
      background: true,
    };
    submit.disabled = true;
    submit.textContent = "Starting…";
    try {
      const data = await graphql(TRAIN, { input });
      const run = data.trainModel.trainingRun;
      ctx.toast(data.trainModel.message, "success");
      progress.replaceChildren(follower(run, ctx));
    } catch (failure) {
      showError(error, failure, "The training could not start: ");
      let first = null;
      for (const [key, path] of Object.entries(TRAIN_FIELDS)) {
        const messages =
          failure.fields?.[path] ?? failure.fields?.[`input.${path}`] ?? failure.fields?.[key];
        if (messages?.length) {
          fieldErrors[key].textContent = messages.join(" ");
          inputs[key].setAttribute("aria-invalid", "true");
          inputs[key].setAttribute("aria-describedby", fieldErrors[key].id);
          first ??= inputs[key];
        }
      }
      first?.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = "Train on this dataset";
    }
  });
  return h("div", null, form, progress);
}

async function runsSection(dataset, ctx) {
  const body = h("div", null, h("p", { class: "loading" }, "Loading the runs…"));
  const node = h(
    "section",
    { class: "card wide", "aria-labelledby": "dataset-runs-heading" },
    h("h2", { id: "dataset-runs-heading" }, "Runs on this dataset"),
    body,
  );
  graphql(DATASET_RUNS, { id: dataset.id }, { signal: ctx.signal }).then(
    (data) => {
      const runs = data.dataset.trainingRuns.nodes;
      if (!runs.length) {
        body.replaceChildren(h("p", null, "No run was trained on this dataset yet."));
        return;
      }
      replace(
        body,
        h(
          "table",
          { class: "runs", id: "dataset-runs" },
          h("caption", { class: "visually-hidden" }, "Runs on this dataset, newest first"),
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Run", "Status", "Accuracy", "F1 score", "Run date"].map((name) =>
                h("th", { scope: "col" }, name),
              ),
            ),
          ),
          h(
            "tbody",
            null,
            runs.map((run) =>
              h(
                "tr",
                null,
                h(
                  "td",
                  null,
                  h(
                    "a",
                    { href: `#/runs/${encodeURIComponent(run.id)}` },
                    `#${run.id} ${run.modelVersion}`,
                  ),
                ),
                h("td", null, statusBadge(run.status)),
                h("td", { class: "num" }, metric(run.accuracy)),
                h("td", { class: "num" }, metric(run.f1Score)),
                h("td", null, timeElement(run.runDate)),
              ),
            ),
          ),
        ),
        data.dataset.trainingRuns.pageInfo.hasNextPage
          ? h(
              "p",
              null,
              h(
                "a",
                { href: `#/runs?datasetId=${encodeURIComponent(dataset.id)}` },
                "All runs on this dataset",
              ),
            )
          : null,
      );
    },
    (failure) => {
      if (failure.name !== "AbortError")
        body.replaceChildren(
          errorPanel(failure, { heading: "The runs could not be listed", level: 3 }),
        );
    },
  );
  return node;
}

export async function render(ctx) {
  const [id] = ctx.params;
  const data = await graphql(DATASET, { id }, { signal: ctx.signal });
  const dataset = data.dataset;
  const toggle = trainingStatusButton({
    datasetId: dataset.id,
    currentStatus: legacyStatus(dataset.trainingStatus),
  });
  const canRead = hasRole("HR_STAFF", "MANAGER");
  const sections = [
    h(
      "section",
      { class: "card", "aria-labelledby": "dataset-facts" },
      h("h2", { id: "dataset-facts" }, "About"),
      h(
        "dl",
        { class: "facts" },
        h("dt", null, "Rows"),
        h("dd", { id: "dataset-rows" }, count(dataset.rowCount)),
        h("dt", null, "Owner"),
        h("dd", null, dataset.owner?.username ?? "nobody (uploaded anonymously)"),
        h("dt", null, "Uploaded"),
        h("dd", null, timeElement(dataset.createdAt)),
        h("dt", null, "Training status"),
        h("dd", null, toggle.node),
      ),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "dataset-columns" },
      h("h2", { id: "dataset-columns" }, `Columns (${dataset.columns.length})`),
      h(
        "ul",
        { class: "columns-list" },
        dataset.columns.map((column) => h("li", null, h("code", null, column))),
      ),
    ),
  ];
  if (hasRole("HR_STAFF")) {
    sections.push(
      h(
        "section",
        { class: "card wide", "aria-labelledby": "train-heading", id: "train" },
        h("h2", { id: "train-heading" }, "Train on this dataset"),
        trainForm(dataset, ctx),
      ),
    );
  }
  if (canRead) sections.push(await runsSection(dataset, ctx));
  if (canRead) {
    sections.push(
      h(
        "p",
        { class: "wide" },
        h(
          "a",
          { href: `#/accuracy?dataset=${encodeURIComponent(dataset.id)}` },
          "Accuracy over time on this dataset",
        ),
      ),
    );
  }
  return {
    title: dataset.name,
    node: h(
      "article",
      { class: "dataset-view", dataset: { datasetId: dataset.id } },
      h("p", { class: "breadcrumbs" }, h("a", { href: "#/datasets" }, "← All datasets")),
      pageHeading(`Dataset: ${dataset.name}`),
      h("div", { class: "cards" }, sections),
    ),
  };
}
