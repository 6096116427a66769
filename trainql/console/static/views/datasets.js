// The signed-in user's datasets: upload a CSV (a GraphQL multipart request with the
// preflight header), the list with row counts and columns, each with its training-status
// toggle. The list pages forward by cursor; "Previous" goes back through the cursors seen.

import { graphql, upload } from "../api.js";
import { count, field, h, timeElement } from "../dom.js";
import { CREATE_DATASET, DATASETS } from "../queries.js";
import { alertBox, pageHeading, showError } from "../ui.js";
import { legacyStatus, trainingStatusButton } from "./status-button.js";

export const errorHeading = "Your datasets could not be listed";

const PAGE = 20;

function uploadForm(ctx) {
  const name = h("input", { name: "name", required: true, maxlength: 200 });
  const file = h("input", { name: "file", type: "file", accept: ".csv,text/csv", required: true });
  const submit = h(
    "button",
    { type: "submit", class: "btn btn-primary", dataset: { focusKey: "upload" } },
    "Upload",
  );
  const error = alertBox();
  error.id = "upload-error";
  const form = h(
    "form",
    { class: "card", id: "upload-form", "aria-labelledby": "upload-heading", novalidate: true },
    h("h2", { id: "upload-heading" }, "Upload a dataset"),
    h(
      "p",
      { class: "hint" },
      "A UTF-8 CSV file with a header row of distinct names and at least one data row.",
    ),
    h("div", { class: "field-row" }, field("Name", name), field("CSV file", file)),
    error,
    h("div", { class: "actions" }, submit),
  );
  file.addEventListener("change", () => {
    if (!name.value && file.files[0]) name.value = file.files[0].name.replace(/\.csv$/i, "");
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file.files[0] || !name.value.trim()) {
      showError(
        error,
        !file.files[0] ? "Choose a CSV file to upload." : "Give the dataset a name.",
      );
      (file.files[0] ? name : file).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Uploading…";
    showError(error, null);
    try {
      const data = await upload(CREATE_DATASET, { name: name.value.trim() }, "file", file.files[0]);
      const created = data.createDataset;
      ctx.toast(
        `Uploaded ${created.name}: ${count(created.rowCount)} rows, ${created.columns.length} columns.`,
        "success",
      );
      ctx.navigate("/datasets", {});
    } catch (failure) {
      showError(error, failure, "The upload failed: ");
      submit.disabled = false;
      submit.textContent = "Upload";
    }
  });
  return form;
}

function datasetRow(dataset) {
  const nameId = `dataset-name-${dataset.id}`;
  const toggle = trainingStatusButton({
    datasetId: dataset.id,
    currentStatus: legacyStatus(dataset.trainingStatus),
    label: nameId,
  });
  const columns = dataset.columns.join(", ");
  return h(
    "tr",
    { dataset: { datasetId: dataset.id } },
    h(
      "th",
      { scope: "row" },
      h("a", { id: nameId, href: `#/datasets/${encodeURIComponent(dataset.id)}` }, dataset.name),
    ),
    h("td", { class: "num" }, count(dataset.rowCount)),
    h("td", { class: "columns" }, h("span", { title: columns }, columns)),
    h("td", null, toggle.node),
    h("td", null, timeElement(dataset.createdAt)),
  );
}

export async function render(ctx) {
  const trail = (ctx.query.get("trail") ?? "").split(" ").filter(Boolean);
  const after = trail.at(-1) ?? null;
  const data = await graphql(DATASETS, { first: PAGE, after }, { signal: ctx.signal });
  const connection = data.datasets;
  const list = connection.nodes.length
    ? h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "datasets", id: "datasets-table" },
          h("caption", null, "Your datasets, newest first"),
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              h("th", { scope: "col" }, "Name"),
              h("th", { scope: "col", class: "num" }, "Rows"),
              h("th", { scope: "col" }, "Columns"),
              h("th", { scope: "col" }, "Training status"),
              h("th", { scope: "col" }, "Uploaded"),
            ),
          ),
          h("tbody", null, connection.nodes.map(datasetRow)),
        ),
      )
    : h(
        "p",
        { class: "empty" },
        trail.length ? "No more datasets." : "You have no dataset yet: upload one above.",
      );
  const previous = h(
    "button",
    {
      type: "button",
      class: "btn",
      disabled: trail.length === 0,
      dataset: { focusKey: "previous", focusAlt: "next" },
      onClick: () => ctx.navigate("/datasets", { trail: trail.slice(0, -1).join(" ") }),
    },
    "← Previous",
  );
  const next = h(
    "button",
    {
      type: "button",
      class: "btn",
      disabled: !connection.pageInfo.hasNextPage,
      dataset: { focusKey: "next", focusAlt: "previous" },
      onClick: () =>
        ctx.navigate("/datasets", { trail: [...trail, connection.pageInfo.endCursor].join(" ") }),
    },
    "Next →",
  );
  return {
    title: "Datasets",
    node: h(
      "section",
      { class: "datasets-view" },
      pageHeading("Datasets"),
      uploadForm(ctx),
      h("h2", null, "Your datasets"),
      h(
        "p",
        { class: "summary", role: "status" },
        `${count(connection.totalCount)} dataset${connection.totalCount === 1 ? "" : "s"}.`,
      ),
      list,
      h("nav", { class: "pager", "aria-label": "Pages of datasets" }, previous, next),
    ),
  };
}
