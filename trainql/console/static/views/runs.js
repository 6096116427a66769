// The runs table: trainingRuns with its filters and orders, paged by cursor (next and
// previous), every QUEUED or RUNNING row kept current by a trainingRunUpdated subscription.
// The filters, order and cursor live in the URL (#/runs?status=COMPLETED&order=ACCURACY…),
// so a reload or a shared link shows the same page.

import { ApiError, graphql } from "../api.js";
import {
  LIVE_STATUSES,
  count,
  field,
  fromDateTimeLocal,
  h,
  metric,
  seconds,
  srOnly,
  statusBadge,
  timeElement,
  toDateTimeLocal,
} from "../dom.js";
import { live } from "../live.js";
import { RUNS, WATCH_RUN } from "../queries.js";
import { errorPanel, pageHeading } from "../ui.js";
import { compareSelection } from "./selection.js";

export const errorHeading = "The training runs could not be listed";

const STATUSES = ["QUEUED", "RUNNING", "COMPLETED", "FAILED"];
const ORDERS = [
  ["RUN_DATE", "Run date"],
  ["ACCURACY", "Accuracy"],
  ["F1_SCORE", "F1 score"],
  ["MODEL_VERSION", "Model version"],
];
const PAGE_SIZES = [10, 20, 50, 100];
const FILTER_KEYS = [
  "status",
  "trainedBy",
  "modelVersion",
  "datasetId",
  "from",
  "to",
  "minAccuracy",
];

/** The page's state from the URL's query. */
function stateFrom(query) {
  const size = Number(query.get("size"));
  const order = query.get("order");
  return {
    status: (query.get("status") ?? "").split(",").filter((s) => STATUSES.includes(s)),
    trainedBy: query.get("trainedBy") ?? "",
    modelVersion: query.get("modelVersion") ?? "",
    datasetId: query.get("datasetId") ?? "",
    from: query.get("from") ?? "",
    to: query.get("to") ?? "",
    minAccuracy: query.get("minAccuracy") ?? "",
    order: ORDERS.some(([value]) => value === order) ? order : "RUN_DATE",
    dir: query.get("dir") === "ASC" ? "ASC" : "DESC",
    size: PAGE_SIZES.includes(size) ? size : 20,
    after: query.get("after") ?? "",
    before: query.get("before") ?? "",
  };
}

/** The URL query of a state (empty values left out). */
function queryOf(state) {
  return {
    status: state.status.join(","),
    trainedBy: state.trainedBy,
    modelVersion: state.modelVersion,
    datasetId: state.datasetId,
    from: state.from,
    to: state.to,
    minAccuracy: state.minAccuracy,
    order: state.order === "RUN_DATE" ? "" : state.order,
    dir: state.dir === "DESC" ? "" : state.dir,
    size: state.size === 20 ? "" : String(state.size),
    after: state.after,
    before: state.before,
  };
}

function variablesOf(state) {
  const filter = {};
  if (state.status.length) filter.status = state.status;
  if (state.trainedBy) filter.trainedBy = state.trainedBy;
  if (state.modelVersion) filter.modelVersion = state.modelVersion;
  if (state.datasetId) filter.datasetId = state.datasetId;
  if (state.from) filter.runDateFrom = state.from;
  if (state.to) filter.runDateTo = state.to;
  if (state.minAccuracy !== "") filter.minAccuracy = Number(state.minAccuracy);
  const variables = { filter, orderBy: { field: state.order, direction: state.dir } };
  if (state.before) Object.assign(variables, { last: state.size, before: state.before });
  else Object.assign(variables, { first: state.size, after: state.after || null });
  return variables;
}

function filterForm(state, ctx) {
  const statusBoxes = STATUSES.map((status) =>
    h(
      "label",
      { class: "check" },
      h("input", {
        type: "checkbox",
        name: "status",
        value: status,
        checked: state.status.includes(status),
      }),
      ` ${status}`,
    ),
  );
  const text = (name, value, props = {}) => h("input", { name, value, ...props });
  const select = (name, options, selected) =>
    h(
      "select",
      { name },
      options.map(([value, label]) =>
        h("option", { value, selected: value === String(selected) }, label),
      ),
    );
  const form = h(
    "form",
    { class: "filters card", "aria-label": "Filter and order the runs" },
    h("fieldset", { class: "statuses" }, h("legend", null, "Status"), statusBoxes),
    h(
      "div",
      { class: "field-row" },
      field("Trained by", text("trainedBy", state.trainedBy, { placeholder: "username" })),
      field("Model version", text("modelVersion", state.modelVersion), "exact version"),
      field("Dataset id", text("datasetId", state.datasetId, { size: 36 })),
    ),
    h(
      "div",
      { class: "field-row" },
      field(
        "Run date from (UTC)",
        text("from", toDateTimeLocal(state.from), { type: "datetime-local" }),
        "inclusive",
      ),
      field(
        "Run date before (UTC)",
        text("to", toDateTimeLocal(state.to), { type: "datetime-local" }),
        "exclusive",
      ),
      field(
        "Minimum accuracy",
        text("minAccuracy", state.minAccuracy, {
          type: "number",
          min: 0,
          max: 1,
          step: "any",
          inputmode: "decimal",
        }),
        "0 to 1",
      ),
    ),
    h(
      "div",
      { class: "field-row" },
      field("Order by", select("order", ORDERS, state.order)),
      field(
        "Direction",
        select(
          "dir",
          [
            ["DESC", "Descending"],
            ["ASC", "Ascending"],
          ],
          state.dir,
        ),
      ),
      field(
        "Runs per page",
        select(
          "size",
          PAGE_SIZES.map((n) => [String(n), String(n)]),
          state.size,
        ),
      ),
    ),
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        { type: "submit", class: "btn btn-primary", dataset: { focusKey: "apply" } },
        "Apply",
      ),
      h("button", { type: "reset", class: "btn", dataset: { focusKey: "clear" } }, "Clear filters"),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    ctx.navigate(
      "/runs",
      queryOf({
        status: data.getAll("status"),
        trainedBy: String(data.get("trainedBy")).trim(),
        modelVersion: String(data.get("modelVersion")).trim(),
        datasetId: String(data.get("datasetId")).trim(),
        from: fromDateTimeLocal(String(data.get("from"))),
        to: fromDateTimeLocal(String(data.get("to"))),
        minAccuracy: String(data.get("minAccuracy")).trim(),
        order: String(data.get("order")),
        dir: String(data.get("dir")),
        size: Number(data.get("size")),
        after: "",
        before: "",
      }),
    );
  });
  form.addEventListener("reset", (event) => {
    event.preventDefault();
    ctx.navigate("/runs", {});
  });
  return form;
}

function orderLabel(state) {
  const name = ORDERS.find(([value]) => value === state.order)[1].toLowerCase();
  return `${name}, ${state.dir === "DESC" ? "descending" : "ascending"}`;
}

/** A column heading that orders by its field when activated. */
function sortHeading(label, orderField, state, ctx) {
  const active = state.order === orderField;
  const next = active && state.dir === "DESC" ? "ASC" : "DESC";
  return h(
    "th",
    {
      scope: "col",
      "aria-sort": active ? (state.dir === "DESC" ? "descending" : "ascending") : null,
    },
    h(
      "button",
      {
        type: "button",
        class: "sort",
        dataset: { focusKey: `sort-${orderField}` },
        onClick: () =>
          ctx.navigate(
            "/runs",
            queryOf({ ...state, order: orderField, dir: next, after: "", before: "" }),
          ),
      },
      label,
      h("span", { "aria-hidden": "true" }, active ? (state.dir === "DESC" ? " ▼" : " ▲") : " ↕"),
      srOnly(`, order by ${label.toLowerCase()} ${next === "DESC" ? "descending" : "ascending"}`),
    ),
  );
}

function runRow(run, selection, onSelect) {
  const checkbox = h("input", {
    type: "checkbox",
    checked: selection.has(run.id),
    "aria-label": `Compare run ${run.id} (${run.modelVersion})`,
  });
  checkbox.addEventListener("change", () => onSelect(run, checkbox.checked));
  return h(
    "tr",
    { dataset: { runId: run.id, status: run.status } },
    h("td", { class: "select" }, checkbox),
    h("td", { class: "num" }, run.id),
    h("td", null, h("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, run.modelVersion)),
    h("td", { class: "status-cell" }, statusBadge(run.status)),
    h("td", { class: "num accuracy" }, metric(run.accuracy)),
    h("td", { class: "num f1" }, metric(run.f1Score)),
    h("td", { class: "num duration" }, seconds(run.trainingDurationSeconds)),
    h("td", null, timeElement(run.runDate)),
    h("td", null, run.trainedBy?.username ?? "—"),
    h(
      "td",
      null,
      run.dataset
        ? h("a", { href: `#/datasets/${encodeURIComponent(run.dataset.id)}` }, run.dataset.name)
        : "default",
    ),
  );
}

/** Put a live update into its row (status, metrics) and say so when the run ends. */
function updateRow(row, run, ctx) {
  row.dataset.status = run.status;
  row.querySelector(".status-cell").replaceChildren(statusBadge(run.status));
  row.querySelector(".accuracy").textContent = metric(run.accuracy);
  row.querySelector(".f1").textContent = metric(run.f1Score);
  row.querySelector(".duration").textContent = seconds(run.trainingDurationSeconds);
  if (!LIVE_STATUSES.has(run.status))
    ctx.toast(`Run ${run.id} (${run.modelVersion}) is ${run.status}.`);
}

export async function render(ctx) {
  const state = stateFrom(ctx.query);
  let data;
  try {
    data = await graphql(RUNS, variablesOf(state), { signal: ctx.signal });
  } catch (error) {
    // A refused filter (a malformed dataset id, an old cursor): the message, under the form
    // that can put it right. A refused sign-in or role ends the view (app.js shows it).
    if (error.name === "AbortError" || !(error instanceof ApiError)) throw error;
    if (["UNAUTHENTICATED", "FORBIDDEN"].includes(error.code)) throw error;
    return {
      title: "Training runs",
      node: h(
        "section",
        { class: "runs-view" },
        pageHeading("Training runs"),
        filterForm(state, ctx),
        errorPanel(error, { heading: errorHeading, level: 2 }),
      ),
    };
  }
  const connection = data.trainingRuns;
  const selection = compareSelection();

  const compareButton = h("button", {
    type: "button",
    class: "btn",
    dataset: { focusKey: "compare" },
  });
  const selected = h("span", { class: "selected-runs", role: "status" });
  const paintSelection = () => {
    const ids = selection.ids();
    compareButton.textContent = `Compare selected (${ids.length})`;
    compareButton.disabled = ids.length < 2 || ids.length > 5;
    selected.textContent = ids.length
      ? `Selected: ${ids.map((id) => `#${id}`).join(", ")}${ids.length > 5 ? " (at most 5 can be compared)" : ""}`
      : "Select 2 to 5 runs to compare them.";
  };
  compareButton.addEventListener("click", () =>
    ctx.navigate("/compare", { ids: selection.ids().join(",") }),
  );
  const clearSelection = h(
    "button",
    {
      type: "button",
      class: "btn btn-quiet",
      onClick: () => {
        selection.clear();
        ctx.refresh();
      },
    },
    "Clear selection",
  );
  const onSelect = (run, checked) => {
    if (checked) selection.add(run.id);
    else selection.remove(run.id);
    paintSelection();
  };
  paintSelection();

  const rows = connection.nodes.map((run) => runRow(run, selection, onSelect));
  const tbody = h("tbody", null, rows);
  for (const [index, run] of connection.nodes.entries()) {
    if (!LIVE_STATUSES.has(run.status)) continue;
    const stop = live.subscribe(
      WATCH_RUN,
      { id: run.id },
      {
        next: (update) =>
          update?.trainingRunUpdated && updateRow(rows[index], update.trainingRunUpdated, ctx),
        error: (error) =>
          rows[index]
            .querySelector(".status-cell")
            .append(
              h("span", { class: "live-error" }, ` (live updates stopped: ${error.message})`),
            ),
      },
    );
    ctx.onCleanup(stop);
  }

  const info = connection.pageInfo;
  const previous = h(
    "button",
    {
      type: "button",
      class: "btn",
      disabled: !info.hasPreviousPage,
      dataset: { focusKey: "previous", focusAlt: "next" },
      onClick: () =>
        ctx.navigate("/runs", queryOf({ ...state, after: "", before: info.startCursor })),
    },
    "← Previous",
  );
  const next = h(
    "button",
    {
      type: "button",
      class: "btn",
      disabled: !info.hasNextPage,
      dataset: { focusKey: "next", focusAlt: "previous" },
      onClick: () =>
        ctx.navigate("/runs", queryOf({ ...state, before: "", after: info.endCursor })),
    },
    "Next →",
  );

  const filtered = FILTER_KEYS.some((key) =>
    Array.isArray(state[key]) ? state[key].length : state[key],
  );
  const summary = `${count(connection.totalCount)} run${connection.totalCount === 1 ? "" : "s"} ${filtered ? "match the filters" : "in all"}; ${connection.nodes.length} on this page, ordered by ${orderLabel(state)}.`;

  const table = connection.nodes.length
    ? h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "runs", id: "runs-table" },
          h("caption", null, `Training runs, ordered by ${orderLabel(state)}`),
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              h("th", { scope: "col" }, srOnly("Compare")),
              h("th", { scope: "col", class: "num" }, "Id"),
              sortHeading("Model version", "MODEL_VERSION", state, ctx),
              h("th", { scope: "col" }, "Status"),
              sortHeading("Accuracy", "ACCURACY", state, ctx),
              sortHeading("F1 score", "F1_SCORE", state, ctx),
              h("th", { scope: "col", class: "num" }, "Duration"),
              sortHeading("Run date", "RUN_DATE", state, ctx),
              h("th", { scope: "col" }, "Trained by"),
              h("th", { scope: "col" }, "Dataset"),
            ),
          ),
          tbody,
        ),
      )
    : h(
        "p",
        { class: "empty" },
        filtered ? "No run matches these filters." : "No training run yet.",
      );

  return {
    title: "Training runs",
    node: h(
      "section",
      { class: "runs-view" },
      pageHeading("Training runs"),
      filterForm(state, ctx),
      h("p", { class: "summary", id: "runs-summary", role: "status" }, summary),
      h("div", { class: "compare-bar" }, selected, compareButton, clearSelection),
      table,
      h("nav", { class: "pager", "aria-label": "Pages of runs" }, previous, next),
    ),
  };
}
