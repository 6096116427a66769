// The predict form of a COMPLETED run: one field per column of the run's `inputSchema` (a
// list of its categories for a categorical column, a number for a numeric one), answered by
// the `predict` query with the predicted label and each class's probability.
// Both are issue 12's API: on a server without them the section says so instead.

import { graphql } from "../api.js";
import { barTable } from "../charts.js";
import { field, h, replace } from "../dom.js";
import { INPUT_SCHEMA, PREDICT } from "../queries.js";
import { alertBox, showError } from "../ui.js";

function control(column) {
  if (column.kind === "CATEGORICAL" && Array.isArray(column.categories)) {
    return h(
      "select",
      { name: column.name, required: true, dataset: { kind: column.kind } },
      h("option", { value: "" }, "Choose…"),
      column.categories.map((category) => h("option", { value: category }, category)),
    );
  }
  if (column.kind === "NUMERIC") {
    return h("input", {
      name: column.name,
      type: "number",
      step: "any",
      required: true,
      inputmode: "decimal",
      dataset: { kind: column.kind },
    });
  }
  return h("input", { name: column.name, required: true, dataset: { kind: column.kind } });
}

function form(run, schema, signal) {
  const controls = schema.map(control);
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Predict");
  const error = alertBox();
  error.id = "predict-error";
  const result = h("div", { class: "prediction", id: "prediction", "aria-live": "polite" });
  const element = h(
    "form",
    { class: "predict-form", id: "predict-form", novalidate: true },
    h(
      "div",
      { class: "field-grid" },
      schema.map((column, i) =>
        field(column.name, controls[i], column.kind === "NUMERIC" ? "number" : "category"),
      ),
    ),
    error,
    h("div", { class: "actions" }, submit),
    result,
  );
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    const missing = controls.find((input) => input.value === "");
    if (missing) {
      showError(error, `Give a value for ${missing.name}.`);
      missing.focus();
      return;
    }
    const row = {};
    for (const input of controls) {
      row[input.name] = input.dataset.kind === "NUMERIC" ? Number(input.value) : input.value;
    }
    submit.disabled = true;
    submit.textContent = "Predicting…";
    showError(error, null);
    try {
      const data = await graphql(
        PREDICT,
        { input: { trainingRunId: run.id, rows: [row] } },
        { signal },
      );
      const prediction = data.predict.predictions[0];
      replace(
        result,
        h(
          "p",
          { class: "predicted" },
          `Predicted ${run.targetColumn}: `,
          h("strong", { id: "predicted-label" }, prediction.label),
        ),
        barTable({
          id: "prediction-probabilities",
          caption: "Probability of each class",
          items: prediction.probabilities.map((p) => ({ label: p.label, value: p.probability })),
          labelHeading: "Class",
          valueHeading: "Probability",
        }),
        data.predict.ignoredColumns.length
          ? h("p", { class: "hint" }, `Ignored columns: ${data.predict.ignoredColumns.join(", ")}`)
          : null,
      );
    } catch (failure) {
      if (failure.name === "AbortError") return;
      result.replaceChildren();
      showError(error, failure, "The prediction failed: ");
    } finally {
      submit.disabled = false;
      submit.textContent = "Predict";
    }
  });
  return element;
}

/** The "Predict" section of a run page; it fills itself once the input schema arrives. */
export function predictSection(run, ctx) {
  const body = h(
    "div",
    { class: "predict-body" },
    h("p", { class: "loading" }, "Loading the model's input columns…"),
  );
  const node = h(
    "section",
    { class: "card wide", "aria-labelledby": "predict-heading", id: "predict" },
    h("h2", { id: "predict-heading" }, "Predict"),
    body,
  );
  graphql(INPUT_SCHEMA, { id: run.id }, { signal: ctx.signal }).then(
    (data) => {
      const schema = data.trainingRun?.inputSchema;
      if (!schema || schema.length === 0) {
        body.replaceChildren(h("p", null, "This run has no input schema: it cannot predict."));
        return;
      }
      body.replaceChildren(
        h(
          "p",
          { class: "hint" },
          `Give one value per feature; the model predicts ${run.targetColumn}.`,
        ),
        form(run, schema, ctx.signal),
      );
    },
    (failure) => {
      if (failure.name === "AbortError") return;
      const message = failure.unknownField
        ? `This server does not offer predictions yet (its API has no inputSchema): ${failure.message}`
        : `The model's input columns could not be read: ${failure.message}`;
      body.replaceChildren(
        h("p", { class: "alert", role: "alert", id: "predict-unavailable" }, message),
      );
    },
  );
  return node;
}
