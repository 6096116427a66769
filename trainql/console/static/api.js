// The console's only way to the server: the public GraphQL API, with the signed-in user's
// token, exactly as any other client (no private endpoint, no cookie).

const GRAPHQL_URL = document.querySelector('meta[name="trainql-graphql"]').content;
// Where the legacy front end keeps its token (`localStorage.getItem("token")`).
const TOKEN_KEY = "token";

/** The GraphQL endpoint as an absolute URL (for the WebSocket, which needs ws:/wss:). */
export function graphqlUrl() {
  return new URL(GRAPHQL_URL, window.location.href);
}

export function getToken() {
  return window.localStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  window.localStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  window.localStorage.removeItem(TOKEN_KEY);
}

export function authorization() {
  const token = getToken();
  return token ? `Token ${token}` : null;
}

/**
 * A failed operation: `message` joins the server's messages (shown to the user as they are),
 * `code` is the first error's `extensions.code` (or NETWORK_ERROR / BAD_RESPONSE when no
 * GraphQL answer came), `errors` the server's error list, `fields` the first error's
 * per-field messages (BAD_USER_INPUT).
 */
export class ApiError extends Error {
  constructor(message, { code = null, errors = [], status = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.errors = errors;
    this.status = status;
    this.fields = errors[0]?.extensions?.fields ?? {};
  }

  /** Whether the server does not know a field the console asked for (an older API). */
  get unknownField() {
    return (
      this.code === "GRAPHQL_VALIDATION_FAILED" &&
      this.errors.some((error) => /^Cannot query field/.test(error.message))
    );
  }
}

async function send(init, signal) {
  let response;
  try {
    response = await fetch(GRAPHQL_URL, { ...init, signal, credentials: "omit" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(`The server could not be reached: ${error.message}.`, {
      code: "NETWORK_ERROR",
    });
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(
      `The server answered HTTP ${response.status} ${response.statusText} without a GraphQL response.`,
      { code: "BAD_RESPONSE", status: response.status },
    );
  }
  const errors = Array.isArray(body?.errors) ? body.errors : [];
  if (errors.length > 0) {
    const message = errors.map((error) => error.message).join("\n");
    throw new ApiError(message, {
      code: errors[0].extensions?.code ?? null,
      errors,
      status: response.status,
    });
  }
  if (!body || typeof body.data !== "object" || body.data === null) {
    throw new ApiError(`The server answered HTTP ${response.status} with no data.`, {
      code: "BAD_RESPONSE",
      status: response.status,
    });
  }
  return body.data;
}

function headers(extra) {
  const result = { Accept: "application/graphql-response+json, application/json", ...extra };
  const auth = authorization();
  if (auth) result.Authorization = auth;
  return result;
}

/** Run one operation; resolves to its `data`, rejects with an ApiError on any error. */
export function graphql(query, variables = {}, { signal } = {}) {
  return send(
    {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ query, variables }),
    },
    signal,
  );
}

/**
 * Run one operation with a file, as a GraphQL multipart request
 * (github.com/jaydenseric/graphql-multipart-request-spec): `fileVariable` names the
 * variable the file goes in. The Apollo-Require-Preflight header is what the server asks of
 * multipart requests (it forces a CORS preflight, so no other site can send one).
 */
export function upload(query, variables, fileVariable, file, { signal } = {}) {
  const form = new FormData();
  form.append(
    "operations",
    JSON.stringify({ query, variables: { ...variables, [fileVariable]: null } }),
  );
  form.append("map", JSON.stringify({ 0: [`variables.${fileVariable}`] }));
  form.append("0", file, file.name);
  return send(
    { method: "POST", headers: headers({ "Apollo-Require-Preflight": "true" }), body: form },
    signal,
  );
}
