// Charts as SVG drawn from numbers, each one next to (or made of) a table holding the same
// numbers as text: a screen reader reads the table, the drawing is hidden from it.
// Colours come from the stylesheet (classes), never from style attributes (the CSP).

import { h, metric, srOnly } from "./dom.js";

const SERIES = 5; // distinct series colours in console.css: .series-0 … .series-4

/** A bar of `fraction` (0 to 1) of the cell's width. */
function bar(fraction, className = "bar") {
  const width = Math.max(0, Math.min(1, fraction)) * 100;
  return h(
    "svg:svg",
    {
      class: "bar-svg",
      viewBox: "0 0 100 10",
      preserveAspectRatio: "none",
      "aria-hidden": "true",
      focusable: "false",
    },
    h("svg:rect", { class: className, x: 0, y: 0, width: width.toFixed(2), height: 10 }),
  );
}

/**
 * Horizontal bars, largest first: items [{label, value}], `format(value)` the text shown.
 * A table (label, value as text, bar), so the numbers are what assistive technology reads.
 */
export function barTable({
  caption,
  items,
  labelHeading = "Feature",
  valueHeading = "Value",
  format = metric,
  id,
}) {
  const sorted = [...items].sort((a, b) => b.value - a.value || a.label.localeCompare(b.label));
  const max = Math.max(...sorted.map((item) => item.value), 0) || 1;
  return h(
    "table",
    { class: "chart bars", id },
    h("caption", null, caption),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th", { scope: "col" }, labelHeading),
        h("th", { scope: "col", class: "num" }, valueHeading),
        h("th", { scope: "col", class: "bar-cell" }, srOnly("Bar")),
      ),
    ),
    h(
      "tbody",
      null,
      sorted.map((item) =>
        h(
          "tr",
          { dataset: { label: item.label } },
          h("th", { scope: "row" }, item.label),
          h("td", { class: "num" }, format(item.value)),
          h("td", { class: "bar-cell" }, bar(item.value / max)),
        ),
      ),
    ),
  );
}

/**
 * The confusion matrix as a heat map: a table of counts (rows actual, columns predicted),
 * each cell shaded by its share of the largest count; the diagonal (right answers) outlined.
 */
export function heatMap({ labels, matrix, caption }) {
  const max = Math.max(1, ...matrix.flat());
  return h(
    "table",
    { class: "chart heatmap", id: "confusion-matrix" },
    h("caption", null, caption),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("td", { class: "corner" }, h("span", { "aria-hidden": "true" }, "actual ↓ predicted →")),
        labels.map((label) => h("th", { scope: "col" }, srOnly("predicted "), label)),
      ),
    ),
    h(
      "tbody",
      null,
      matrix.map((row, i) =>
        h(
          "tr",
          null,
          h("th", { scope: "row" }, srOnly("actual "), labels[i]),
          row.map((value, j) => {
            const level = Math.round((8 * value) / max);
            const classes = ["heat", `heat-${level}`, level >= 5 ? "heat-dark" : ""];
            if (i === j) classes.push("diagonal");
            return h(
              "td",
              {
                class: classes.join(" ").trim(),
                dataset: { actual: labels[i], predicted: labels[j] },
              },
              String(value),
            );
          }),
        ),
      ),
    ),
  );
}

/**
 * Importances of several runs overlaid: one group of bars per feature (one bar per run, in
 * the run's series colour, on one scale), and beside it the table of the same numbers.
 * `runs`: [{name, values: Map(feature → importance)}].
 */
export function groupedBars({ caption, runs, id }) {
  const features = [...new Set(runs.flatMap((run) => [...run.values.keys()]))];
  const mean = (feature) =>
    runs.reduce((sum, run) => sum + (run.values.get(feature) ?? 0), 0) / runs.length;
  features.sort((a, b) => mean(b) - mean(a) || a.localeCompare(b));
  const max = Math.max(0, ...runs.flatMap((run) => [...run.values.values()])) || 1;

  const barHeight = 8;
  const groupGap = 10;
  const labelWidth = 170;
  const plotWidth = 420;
  const groupHeight = runs.length * barHeight + groupGap;
  const height = features.length * groupHeight + 24;
  const drawing = h(
    "svg:svg",
    {
      class: "chart-svg grouped",
      viewBox: `0 0 ${labelWidth + plotWidth + 60} ${height}`,
      "aria-hidden": "true",
      focusable: "false",
    },
    features.map((feature, f) => {
      const top = f * groupHeight;
      return h(
        "svg:g",
        null,
        h(
          "svg:text",
          {
            x: labelWidth - 6,
            y: top + (runs.length * barHeight) / 2 + 4,
            class: "axis-label end",
          },
          feature,
        ),
        runs.map((run, r) => {
          const value = run.values.get(feature) ?? 0;
          return h("svg:rect", {
            class: `series-${r % SERIES}`,
            x: labelWidth,
            y: top + r * barHeight,
            width: ((plotWidth * value) / max).toFixed(2),
            height: barHeight - 1,
          });
        }),
      );
    }),
    h("svg:line", { class: "axis", x1: labelWidth, x2: labelWidth, y1: 0, y2: height - 20 }),
    h("svg:text", { x: labelWidth, y: height - 6, class: "axis-label" }, "0"),
    h(
      "svg:text",
      { x: labelWidth + plotWidth, y: height - 6, class: "axis-label end" },
      metric(max),
    ),
  );
  const legend = h(
    "ul",
    { class: "legend", "aria-hidden": "true" },
    runs.map((run, r) =>
      h("li", null, h("span", { class: `swatch series-${r % SERIES}` }), run.name),
    ),
  );
  const table = h(
    "table",
    { class: "chart numbers", id },
    h("caption", null, caption),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th", { scope: "col" }, "Feature"),
        runs.map((run, r) =>
          h(
            "th",
            { scope: "col", class: "num" },
            h("span", { class: `swatch series-${r % SERIES}`, "aria-hidden": "true" }),
            run.name,
          ),
        ),
      ),
    ),
    h(
      "tbody",
      null,
      features.map((feature) =>
        h(
          "tr",
          { dataset: { feature } },
          h("th", { scope: "row" }, feature),
          runs.map((run) => h("td", { class: "num" }, metric(run.values.get(feature)))),
        ),
      ),
    ),
  );
  return h("div", { class: "grouped-chart" }, legend, drawing, table);
}

/**
 * A line chart of points [{x: Date, y: number, label}] (already in x order), y in [0, 1]
 * shown on a scale fitted to the values. The caller puts the table of the same points
 * next to it; the drawing's label says where.
 */
export function lineChart({ points, label }) {
  const width = 720;
  const height = 280;
  const margin = { left: 52, right: 16, top: 14, bottom: 40 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const ys = points.map((point) => point.y);
  let low = Math.floor(Math.min(...ys) * 20) / 20;
  let high = Math.ceil(Math.max(...ys) * 20) / 20;
  if (high - low < 0.05) {
    low = Math.max(0, low - 0.05);
    high = Math.min(1, high + 0.05);
  }
  const xs = points.map((point) => point.x.getTime());
  const first = Math.min(...xs);
  const last = Math.max(...xs);
  const xOf = (time) =>
    margin.left + (last === first ? plotW / 2 : ((time - first) / (last - first)) * plotW);
  const yOf = (value) => margin.top + plotH - ((value - low) / (high - low || 1)) * plotH;
  const ticks = [];
  for (let i = 0; i <= 4; i += 1) ticks.push(low + ((high - low) * i) / 4);
  const day = (time) => new Date(time).toISOString().slice(0, 10);
  return h(
    "svg:svg",
    {
      class: "chart-svg line-chart",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": label,
    },
    ticks.map((tick) =>
      h(
        "svg:g",
        null,
        h("svg:line", {
          class: "grid",
          x1: margin.left,
          x2: width - margin.right,
          y1: yOf(tick).toFixed(1),
          y2: yOf(tick).toFixed(1),
        }),
        h(
          "svg:text",
          { class: "axis-label end", x: margin.left - 6, y: (yOf(tick) + 4).toFixed(1) },
          tick.toFixed(3),
        ),
      ),
    ),
    h("svg:text", { class: "axis-label", x: margin.left, y: height - 12 }, day(first)),
    h("svg:text", { class: "axis-label end", x: width - margin.right, y: height - 12 }, day(last)),
    h("svg:polyline", {
      class: "line series-0-stroke",
      points: points
        .map((p) => `${xOf(p.x.getTime()).toFixed(1)},${yOf(p.y).toFixed(1)}`)
        .join(" "),
    }),
    points.map((p) =>
      h(
        "svg:circle",
        {
          class: "point series-0",
          cx: xOf(p.x.getTime()).toFixed(1),
          cy: yOf(p.y).toFixed(1),
          r: 3.5,
        },
        h("svg:title", null, `${p.label}: ${metric(p.y)}`),
      ),
    ),
  );
}
