// Accuracy over time for a model-version prefix or a dataset (#/accuracy?prefix=v&dataset=…),
// as a line chart with the table of its points.
//
// The API filters runs by dataset and by an exact model version, not by a prefix: the
// console reads the newest COMPLETED runs (of the dataset, when one is given) a page of 100
// at a time, keeps those whose version starts with the prefix, and says how many it read.
// It reads at most SCAN_PAGES pages per step; "Read older runs" reads the next ones.

import { graphql } from "../api.js";
import { lineChart } from "../charts.js";
import { count, field, h, metric, timeElement } from "../dom.js";
import { ACCURACY_RUNS, DATASETS } from "../queries.js";
import { pageHeading } from "../ui.js";

export const errorHeading = "Accuracy over time could not be shown";

const SCAN_PAGES = 10;

async function scan({ prefix, datasetId, pages, signal }) {
  const filter = { status: ["COMPLETED"] };
  if (datasetId) filter.datasetId = datasetId;
  const matches = [];
  let read = 0;
  let after = null;
  let more = true;
  for (let page = 0; page < pages && more; page += 1) {
    const data = await graphql(ACCURACY_RUNS, { filter, after }, { signal });
    const connection = data.trainingRuns;
    read += connection.nodes.length;
    matches.push(...connection.nodes.filter((run) => run.modelVersion.startsWith(prefix)));
    more = connection.pageInfo.hasNextPage;
    after = connection.pageInfo.endCursor;
  }
  return { matches, read, more };
}

function form(ctx, prefix, datasetId, datasets) {
  const prefixInput = h("input", { name: "prefix", value: prefix, placeholder: "e.g. api_v" });
  const datasetSelect = h(
    "select",
    { name: "dataset" },
    h("option", { value: "" }, "Any dataset"),
    datasets.map((dataset) =>
      h("option", { value: dataset.id, selected: dataset.id === datasetId }, dataset.name),
    ),
    datasetId && !datasets.some((dataset) => dataset.id === datasetId)
      ? h("option", { value: datasetId, selected: true }, datasetId)
      : null,
  );
  const element = h(
    "form",
    { class: "filters card", id: "accuracy-form" },
    h(
      "div",
      { class: "field-row" },
      field("Model version starts with", prefixInput),
      field("Dataset", datasetSelect, "your datasets"),
    ),
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        { type: "submit", class: "btn btn-primary", dataset: { focusKey: "show" } },
        "Show",
      ),
    ),
  );
  element.addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.navigate("/accuracy", { prefix: prefixInput.value.trim(), dataset: datasetSelect.value });
  });
  return element;
}

export async function render(ctx) {
  const prefix = ctx.query.get("prefix") ?? "";
  const datasetId = ctx.query.get("dataset") ?? "";
  const pages = Math.max(1, Math.min(100, Number(ctx.query.get("pages")) || 1)) * SCAN_PAGES;
  const [own, found] = await Promise.all([
    graphql(DATASETS, { first: 100 }, { signal: ctx.signal }),
    prefix || datasetId ? scan({ prefix, datasetId, pages, signal: ctx.signal }) : null,
  ]);
  const datasets = own.datasets.nodes;
  const content = [];
  if (found) {
    const points = [...found.matches].sort((a, b) => a.runDate.localeCompare(b.runDate));
    const what = [
      prefix ? `versions starting with “${prefix}”` : "every version",
      datasetId
        ? `on ${datasets.find((d) => d.id === datasetId)?.name ?? `dataset ${datasetId}`}`
        : null,
    ]
      .filter(Boolean)
      .join(" ");
    content.push(
      h(
        "p",
        { class: "summary", role: "status", id: "accuracy-summary" },
        `${count(points.length)} completed run${points.length === 1 ? "" : "s"} of ${what}, among the ${count(found.read)} newest completed runs read.`,
      ),
    );
    if (found.more) {
      content.push(
        h(
          "button",
          {
            type: "button",
            class: "btn",
            dataset: { focusKey: "older" },
            onClick: () =>
              ctx.navigate("/accuracy", {
                prefix,
                dataset: datasetId,
                pages: String(pages / SCAN_PAGES + 1),
              }),
          },
          `Read ${SCAN_PAGES * 100} older runs`,
        ),
      );
    }
    if (points.length) {
      const first = points[0];
      const last = points.at(-1);
      const low = Math.min(...points.map((p) => p.accuracy));
      const high = Math.max(...points.map((p) => p.accuracy));
      content.push(
        h(
          "figure",
          { class: "card wide chart-figure" },
          lineChart({
            points: points.map((run) => ({
              x: new Date(run.runDate),
              y: run.accuracy,
              label: `#${run.id} ${run.modelVersion}`,
            })),
            label: `Line chart of accuracy over time for ${what}: ${points.length} runs from ${first.runDate.slice(0, 10)} to ${last.runDate.slice(0, 10)}, accuracy from ${metric(low)} to ${metric(high)}. The table below lists every point.`,
          }),
          h("figcaption", null, `Accuracy of ${what}, oldest first`),
        ),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "points", id: "accuracy-points" },
            h("caption", null, "Every point of the chart"),
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                h("th", { scope: "col" }, "Run date"),
                h("th", { scope: "col" }, "Run"),
                h("th", { scope: "col" }, "Dataset"),
                h("th", { scope: "col", class: "num" }, "Accuracy"),
              ),
            ),
            h(
              "tbody",
              null,
              points.map((run) =>
                h(
                  "tr",
                  null,
                  h("td", null, timeElement(run.runDate)),
                  h(
                    "td",
                    null,
                    h(
                      "a",
                      { href: `#/runs/${encodeURIComponent(run.id)}` },
                      `#${run.id} ${run.modelVersion}`,
                    ),
                  ),
                  h("td", null, run.dataset?.name ?? "default"),
                  h("td", { class: "num" }, metric(run.accuracy)),
                ),
              ),
            ),
          ),
        ),
      );
    }
  } else {
    content.push(h("p", null, "Give a model-version prefix, a dataset, or both."));
  }
  return {
    title: "Accuracy over time",
    node: h(
      "section",
      { class: "accuracy-view" },
      pageHeading("Accuracy over time"),
      form(ctx, prefix, datasetId, datasets),
      content,
    ),
  };
}
