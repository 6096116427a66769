// Building DOM nodes without HTML strings (the page's CSP forbids them: Trusted Types), and
// the formats every view shares.

const SVG_NS = "http://www.w3.org/2000/svg";
// Set as properties (their state is live), not attributes.
const PROPERTIES = new Set(["value", "checked", "disabled", "selected", "indeterminate"]);

/**
 * An element: h("a", {href: "#/runs", class: "x", onClick: fn}, "text", child, [more]).
 * "svg:rect" makes an SVG element. Props that are null, undefined or false are left out;
 * `true` sets an empty attribute; on<Event> functions become listeners.
 */
export function h(tag, props, ...children) {
  const svg = tag.startsWith("svg:");
  const element = svg
    ? document.createElementNS(SVG_NS, tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      Object.assign(element.dataset, value);
    } else if (!svg && PROPERTIES.has(key)) {
      element[key] = value;
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

/** Append children (nested arrays, strings, numbers, nodes; null and false are skipped). */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
  return parent;
}

/** Replace `parent`'s children with `children`, skipping null and false as `h` does (the
 * DOM's own replaceChildren would write them as the text "null"). */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** Text for screen readers only. */
export function srOnly(text) {
  return h("span", { class: "visually-hidden" }, text);
}

const DASH = "—";

/** A metric in [0, 1] with three decimals, or a dash. */
export function metric(value) {
  return value === null || value === undefined ? DASH : Number(value).toFixed(3);
}

/** A signed difference with three decimals: "+0.012", "−0.004", "±0.000". */
export function delta(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return DASH;
  const rounded = Math.round(value * 1000) / 1000;
  if (rounded === 0) return "±0.000";
  return (rounded > 0 ? "+" : "−") + Math.abs(rounded).toFixed(3);
}

/** Seconds, short. */
export function seconds(value) {
  if (value === null || value === undefined) return DASH;
  return value < 10 ? `${Number(value).toFixed(2)} s` : `${Number(value).toFixed(1)} s`;
}

/** An integer with thousands separators. */
export function count(value) {
  return value === null || value === undefined ? DASH : Number(value).toLocaleString("en");
}

/** "2025-11-27 16:31:05 UTC": one unambiguous form, whatever the browser's locale. */
export function dateTime(iso) {
  if (!iso) return DASH;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** A <time> element showing `dateTime(iso)`. */
export function timeElement(iso) {
  return h("time", { datetime: iso }, dateTime(iso));
}

/** The value of an <input type="datetime-local"> for an ISO instant, in UTC. */
export function toDateTimeLocal(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString().slice(0, 16);
}

/** An ISO instant from a datetime-local value, read as UTC (what the labels say). */
export function fromDateTimeLocal(value) {
  if (!value) return "";
  // "2025-11-27T16:30" or "2025-11-27T16:30:15"
  const date = new Date(`${value.length === 16 ? `${value}:00` : value}Z`);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

/** A labelled form field: <div class="field"><label>text</label>control hint</div>. */
let fieldCount = 0;

export function field(label, control, hint) {
  fieldCount += 1;
  const id = control.id || `field-${fieldCount}`;
  control.id = id;
  const hintNode = hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintNode) control.setAttribute("aria-describedby", hintNode.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintNode);
}

/** Status badges: a symbol and the status's name, so the state does not rest on colour. */
const STATUS_SYMBOLS = { QUEUED: "…", RUNNING: "◔", COMPLETED: "✓", FAILED: "✗" };

export function statusBadge(status) {
  return h(
    "span",
    { class: `status status-${String(status).toLowerCase()}`, dataset: { status } },
    h("span", { class: "status-symbol", "aria-hidden": "true" }, STATUS_SYMBOLS[status] ?? "?"),
    ` ${status}`,
  );
}

export const LIVE_STATUSES = new Set(["QUEUED", "RUNNING"]);
