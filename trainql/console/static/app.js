// The console: sign-in, the session bar, and a hash router (#/runs, #/runs/7, …) that swaps
// the <main> content once a view's data has arrived. Any error a view meets is shown with
// its message (the server's GraphQL message as it is), never as a blank page.

import { ApiError, clearToken, getToken, graphql, setToken } from "./api.js";
import { h } from "./dom.js";
import { live } from "./live.js";
import { ME, REVOKE_TOKEN } from "./queries.js";
import { errorPanel, hasRole, navigate, session, toast } from "./ui.js";
import * as accuracy from "./views/accuracy.js";
import * as compare from "./views/compare.js";
import * as dataset from "./views/dataset.js";
import * as datasets from "./views/datasets.js";
import * as run from "./views/run.js";
import * as runs from "./views/runs.js";
import * as signin from "./views/signin.js";

const ROUTES = [
  [/^\/signin$/, signin, { public: true }],
  [/^\/runs$/, runs],
  [/^\/runs\/([^/]+)$/, run],
  [/^\/compare$/, compare],
  [/^\/accuracy$/, accuracy],
  [/^\/datasets$/, datasets],
  [/^\/datasets\/([^/]+)$/, dataset],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const sessionBar = document.getElementById("session");
const banner = document.getElementById("banner");

function currentRoute() {
  const raw = window.location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = raw.split("?", 2);
  return { path, query: new URLSearchParams(search) };
}

function defaultPath() {
  return hasRole("HR_STAFF", "MANAGER") ? "/runs" : "/datasets";
}

let renderCount = 0;
let cleanups = [];
let controller = null;

function runCleanups() {
  for (const cleanup of cleanups.splice(0)) {
    try {
      cleanup();
    } catch (error) {
      console.error(error);
    }
  }
}

/** Render the route in the URL's hash. Same route again (paging, filters): keep focus. */
export async function render() {
  renderCount += 1;
  const mine = renderCount;
  const { path, query } = currentRoute();
  const match = ROUTES.map(([pattern, view, options]) => [
    path.match(pattern),
    view,
    options ?? {},
  ]).find(([found]) => found);
  if (!match) {
    navigate(session.user ? defaultPath() : "/signin");
    return;
  }
  const [found, view, options] = match;
  if (view === signin && session.user) {
    goTo(query.get("next"));
    return;
  }
  if (!options.public && !session.user) {
    navigate("/signin", { next: `${path}?${query}` });
    return;
  }
  const previous = main.dataset.path;
  const focusKey = main.contains(document.activeElement)
    ? document.activeElement.closest("[data-focus-key]")?.dataset.focusKey
    : null;
  controller?.abort();
  controller = new AbortController();
  const pending = [];
  const ctx = {
    params: found.slice(1).map(decodeURIComponent),
    query,
    session,
    signal: controller.signal,
    navigate,
    refresh: () => render(),
    toast,
    signedIn,
    onCleanup: (cleanup) => pending.push(cleanup),
  };
  main.setAttribute("aria-busy", "true");
  let result;
  try {
    result = await view.render(ctx);
  } catch (error) {
    if (error?.name === "AbortError" || mine !== renderCount) {
      for (const cleanup of pending) cleanup();
      return;
    }
    if (sessionEnded(error)) return;
    result = {
      title: "Error",
      node: errorPanel(error, {
        heading: view.errorHeading ?? "Something went wrong",
        retry: () => render(),
      }),
    };
  }
  if (mine !== renderCount) {
    for (const cleanup of pending) cleanup();
    return;
  }
  runCleanups();
  cleanups = pending;
  main.replaceChildren(result.node);
  main.dataset.path = path;
  main.removeAttribute("aria-busy");
  document.title = `${result.title} · trainql console`;
  for (const link of nav.querySelectorAll("a")) {
    const current = path === link.dataset.route || path.startsWith(`${link.dataset.route}/`);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  // The control that had the focus, or its stand-in when it is now disabled (the last page's
  // "Next" hands the focus to "Previous").
  let keep =
    focusKey && previous === path ? main.querySelector(`[data-focus-key="${focusKey}"]`) : null;
  if (keep?.disabled && keep.dataset.focusAlt) {
    keep = main.querySelector(`[data-focus-key="${keep.dataset.focusAlt}"]`);
  }
  if (keep && !keep.disabled) {
    keep.focus();
  } else if (previous !== path || focusKey) {
    (main.querySelector("[data-autofocus]") ?? main.querySelector("h1") ?? main).focus();
  }
}

/** An UNAUTHENTICATED answer to a signed-in console: the token is no longer valid. */
function sessionEnded(error) {
  if (!(error instanceof ApiError) || error.code !== "UNAUTHENTICATED" || !getToken()) return false;
  endSession(`You were signed out: ${error.message} Sign in again.`);
  return true;
}

function endSession(message) {
  clearToken();
  live.closeAll();
  session.user = null;
  paintSession();
  signin.setNotice(message);
  navigate("/signin");
}

/** Keep the token and the user after a successful sign-in, then go on to `next`. */
export function signedIn(token, user, next) {
  setToken(token);
  live.closeAll(); // any open socket carries the previous token
  session.user = user;
  paintSession();
  goTo(next);
}

/** Go to `next` ("/runs/7?x=1", from a sign-in link) if it is a console path, else home. */
function goTo(next) {
  const [path, search] = (next || "").split("?", 2);
  if (
    path.startsWith("/") &&
    path !== "/signin" &&
    ROUTES.some(([pattern]) => pattern.test(path))
  ) {
    navigate(path, new URLSearchParams(search ?? ""));
  } else {
    navigate(defaultPath());
  }
}

async function signOut(button) {
  button.disabled = true;
  button.textContent = "Signing out…";
  let message = "You signed out.";
  try {
    await graphql(REVOKE_TOKEN);
    message = "You signed out; the token is revoked.";
  } catch (error) {
    // The token is forgotten here whatever the server said; say what it said.
    message = `You signed out of this browser, but the server did not revoke the token: ${error.message}`;
  }
  endSession(message);
}

function paintSession() {
  const user = session.user;
  nav.hidden = !user;
  for (const link of nav.querySelectorAll("[data-roles]")) {
    link.parentElement.hidden = !hasRole(...link.dataset.roles.split(","));
  }
  if (!user) {
    sessionBar.replaceChildren();
    return;
  }
  const roles = user.roles.length ? user.roles.join(", ") : "no role";
  const button = h(
    "button",
    { type: "button", class: "btn btn-quiet", id: "sign-out" },
    "Sign out",
  );
  button.addEventListener("click", () => signOut(button));
  sessionBar.replaceChildren(
    h(
      "span",
      { class: "who" },
      "Signed in as ",
      h("strong", { id: "signed-in-user" }, user.username),
      ` (${roles})`,
    ),
    button,
  );
}

function showBanner(message) {
  banner.replaceChildren(
    h("p", null, message),
    h(
      "button",
      { type: "button", class: "btn btn-quiet", onClick: () => banner.replaceChildren() },
      "Dismiss",
    ),
  );
}

async function boot() {
  // Anything a handler did not catch still reaches the screen.
  window.addEventListener("error", (event) => showBanner(`Unexpected error: ${event.message}`));
  window.addEventListener("unhandledrejection", (event) => {
    const reason = event.reason;
    if (reason?.name === "AbortError") return;
    if (sessionEnded(reason)) return;
    showBanner(`Unexpected error: ${reason?.message ?? reason}`);
  });
  document.getElementById("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    (main.querySelector("h1") ?? main).focus();
  });
  live.onChange((event) => {
    if (event.reconnecting)
      toast(`Live updates lost their connection; reconnecting in ${event.delay / 1000} s.`);
  });
  if (getToken()) {
    try {
      const data = await graphql(ME);
      session.user = data.me;
      if (!data.me) clearToken();
    } catch (error) {
      if (error instanceof ApiError && error.code === "UNAUTHENTICATED") {
        clearToken();
        signin.setNotice(`Your saved sign-in is no longer valid: ${error.message} Sign in again.`);
      } else {
        paintSession();
        main.replaceChildren(
          errorPanel(error, {
            heading: "The console could not reach the API",
            retry: () => window.location.reload(),
          }),
        );
        return;
      }
    }
  }
  paintSession();
  window.addEventListener("hashchange", () => render());
  window.addEventListener("trainql:render", () => render());
  await render();
  // When the first view is on screen (bench/bench_console.py reads it).
  performance.mark("trainql:first-view");
  document.documentElement.dataset.ready = "true";
}

boot();
