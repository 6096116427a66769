// What every view shares: the session, announcements, navigation and the error panel.

import { ApiError } from "./api.js";
import { h } from "./dom.js";

export const session = { user: null };

/** Whether the signed-in user holds any of `roles`. */
export function hasRole(...roles) {
  return Boolean(session.user?.roles?.some((role) => roles.includes(role)));
}

/** A short polite announcement, shown for a few seconds. */
export function toast(message, kind = "info") {
  const item = h("p", { class: `toast toast-${kind}` }, message);
  document.getElementById("toasts").append(item);
  window.setTimeout(() => item.remove(), 6000);
}

/** Go to `path` (e.g. "/runs/7") with `query` (an object or URLSearchParams). */
export function navigate(path, query) {
  const search = new URLSearchParams(query ?? {});
  for (const [key, value] of [...search.entries()]) if (value === "") search.delete(key);
  const text = search.toString();
  const target = `#${path}${text ? `?${text}` : ""}`;
  if (window.location.hash === target) {
    window.dispatchEvent(new Event("trainql:render"));
  } else {
    window.location.hash = target;
  }
}

let panels = 0;

/**
 * What went wrong, with the server's message as it is: a view's whole content (level 1,
 * the page's heading) or one section's (level 2 or 3).
 */
export function errorPanel(error, { heading = "Something went wrong", retry, level = 1 } = {}) {
  panels += 1;
  const id = `error-heading-${panels}`;
  const code = error instanceof ApiError ? error.code : null;
  return h(
    "section",
    { class: "error-panel", "aria-labelledby": id },
    h(`h${level}`, { id, tabindex: "-1" }, heading),
    h(
      "div",
      { role: "alert", class: "error-message" },
      String(error?.message ?? error)
        .split("\n")
        .map((line) => h("p", null, line)),
    ),
    code ? h("p", { class: "error-code" }, `Error code: ${code}`) : null,
    retry
      ? h(
          "button",
          { type: "button", class: "btn", onClick: retry, dataset: { focusKey: "retry" } },
          "Try again",
        )
      : null,
  );
}

/** A view's heading, focusable by script (focus moves there on navigation). */
export function pageHeading(text, ...more) {
  return h("h1", { tabindex: "-1" }, text, ...more);
}

/** An inline message for a form or a control: role=alert, so it is announced. */
export function alertBox() {
  return h("div", { class: "alert", role: "alert" });
}

/** Show `error` (or clear with null) in an alertBox. */
export function showError(box, error, prefix = "") {
  box.replaceChildren();
  if (!error) return;
  const lines = String(error.message ?? error).split("\n");
  box.append(...lines.map((line, i) => h("p", null, i === 0 ? prefix + line : line)));
}
