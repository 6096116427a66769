// Sign in with a username and password: obtainToken, then the token is kept in
// localStorage (as the legacy front end keeps it) and sent with every request.

import { graphql } from "../api.js";
import { field, h } from "../dom.js";
import { OBTAIN_TOKEN } from "../queries.js";
import { alertBox, pageHeading, showError } from "../ui.js";

let notice = null;

/** A message for the next sign-in page (why the user is here: signed out, token refused). */
export function setNotice(message) {
  notice = message;
}

export async function render(ctx) {
  const username = h("input", { name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Sign in");
  const error = alertBox();
  error.id = "sign-in-error";
  const shown = notice;
  notice = null;
  const form = h(
    "form",
    { class: "card narrow", "aria-labelledby": "sign-in-heading", novalidate: true },
    field("Username", username),
    field("Password", password),
    error,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!username.value || !password.value) {
      showError(error, "Enter a username and a password.");
      (username.value ? password : username).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Signing in…";
    showError(error, null);
    try {
      const data = await graphql(OBTAIN_TOKEN, {
        username: username.value,
        password: password.value,
      });
      ctx.signedIn(data.obtainToken.token, data.obtainToken.user, ctx.query.get("next"));
    } catch (failure) {
      showError(error, failure);
      submit.disabled = false;
      submit.textContent = "Sign in";
      password.select();
      password.focus();
    }
  });
  username.dataset.autofocus = "true";
  const heading = pageHeading("Sign in to trainql");
  heading.id = "sign-in-heading";
  return {
    title: "Sign in",
    node: h(
      "section",
      { class: "sign-in" },
      heading,
      shown ? h("p", { class: "notice", role: "status", id: "sign-in-notice" }, shown) : null,
      form,
    ),
  };
}
