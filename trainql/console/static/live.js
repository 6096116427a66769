// Subscriptions over a WebSocket, protocol graphql-transport-ws (the one the server speaks;
// github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md): connection_init carries the
// token (browsers cannot set headers on a WebSocket), then one `subscribe` per operation.
//
// The server runs at most TRAINQL_GRAPHQL_WS_MAX_SUBSCRIPTIONS operations per socket
// (10 by default) and refuses one more with TOO_MANY_SUBSCRIPTIONS: operations beyond what
// a socket holds go on another socket. A socket that drops is reopened with a growing
// delay while it has operations, and each is subscribed again (the server then sends the
// run as it is, so nothing is missed for long). A socket the server closes with 4403
// (credentials refused) is not reopened: its operations fail with that message.

import { ApiError, authorization, graphqlUrl } from "./api.js";

const PROTOCOL = "graphql-transport-ws";
const PER_SOCKET = 10;
const RETRY_DELAYS_MS = [500, 1000, 2000, 5000, 10000];

function socketUrl() {
  const url = graphqlUrl();
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.hash = "";
  return url.toString();
}

function errorFrom(errors) {
  const list = Array.isArray(errors) ? errors : [errors];
  return new ApiError(list.map((error) => error?.message ?? String(error)).join("\n"), {
    code: list[0]?.extensions?.code ?? null,
    errors: list,
  });
}

class Socket {
  constructor(client) {
    this.client = client;
    this.operations = new Map();
    this.capacity = PER_SOCKET;
    this.attempt = 0;
    this.disposed = false;
    this.connect();
  }

  connect() {
    this.acknowledged = false;
    this.websocket = new WebSocket(socketUrl(), PROTOCOL);
    this.websocket.addEventListener("open", () => {
      const auth = authorization();
      this.send({ type: "connection_init", payload: auth ? { Authorization: auth } : {} });
    });
    this.websocket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.receive(message);
    });
    this.websocket.addEventListener("close", (event) => this.closed(event));
  }

  send(message) {
    if (this.websocket.readyState === WebSocket.OPEN) {
      this.websocket.send(JSON.stringify(message));
    }
  }

  get full() {
    return this.operations.size >= this.capacity;
  }

  add(operation) {
    this.operations.set(operation.id, operation);
    operation.socket = this;
    if (this.acknowledged) this.subscribe(operation);
  }

  subscribe(operation) {
    this.send({
      id: operation.id,
      type: "subscribe",
      payload: { query: operation.query, variables: operation.variables },
    });
  }

  remove(operation, { tell }) {
    if (!this.operations.delete(operation.id)) return;
    if (tell) this.send({ id: operation.id, type: "complete" });
    if (this.operations.size === 0) this.dispose();
  }

  receive(message) {
    const operation = message.id === undefined ? null : this.operations.get(message.id);
    switch (message.type) {
      case "connection_ack":
        this.acknowledged = true;
        this.attempt = 0;
        for (const waiting of this.operations.values()) this.subscribe(waiting);
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next":
        if (!operation) break;
        if (Array.isArray(message.payload?.errors) && message.payload.errors.length > 0) {
          this.remove(operation, { tell: true });
          operation.sink.error?.(errorFrom(message.payload.errors));
        } else {
          operation.sink.next?.(message.payload?.data ?? null);
        }
        break;
      case "error": {
        if (!operation) break;
        const error = errorFrom(message.payload);
        this.remove(operation, { tell: false });
        if (error.code === "TOO_MANY_SUBSCRIPTIONS") {
          // This socket holds what the server allows: put the operation on another.
          this.capacity = Math.max(1, this.operations.size);
          this.client.place(operation);
        } else {
          operation.sink.error?.(error);
        }
        break;
      }
      case "complete":
        if (!operation) break;
        this.remove(operation, { tell: false });
        operation.sink.complete?.();
        break;
      default:
        break;
    }
  }

  closed(event) {
    if (this.disposed) return;
    const operations = [...this.operations.values()];
    if (event.code === 4403 || event.code === 4400 || operations.length === 0) {
      this.dispose();
      const error = new ApiError(
        `The server closed the live-update connection (${event.code} ${event.reason || "no reason given"}).`,
        { code: event.code === 4403 ? "UNAUTHENTICATED" : "CONNECTION_CLOSED" },
      );
      for (const operation of operations) operation.sink.error?.(error);
      return;
    }
    const delay = RETRY_DELAYS_MS[Math.min(this.attempt, RETRY_DELAYS_MS.length - 1)];
    this.attempt += 1;
    this.client.notify({ reconnecting: true, delay });
    this.retry = window.setTimeout(() => {
      if (!this.disposed) this.connect();
    }, delay);
  }

  dispose() {
    this.disposed = true;
    window.clearTimeout(this.retry);
    this.client.forget(this);
    if (this.websocket.readyState <= WebSocket.OPEN) this.websocket.close(1000, "done");
  }
}

/** Subscriptions for the whole page; `subscribe` returns the function that stops one. */
export class LiveClient {
  constructor() {
    this.sockets = [];
    this.nextId = 0;
    this.listeners = new Set();
  }

  /**
   * Start `query` with `variables`; `sink.next(data)` on every result, `sink.error(ApiError)`
   * once if it fails, `sink.complete()` once when the server ends it. Returns `stop()`.
   */
  subscribe(query, variables, sink) {
    this.nextId += 1;
    const operation = { id: String(this.nextId), query, variables, sink, socket: null };
    this.place(operation);
    return () => operation.socket?.remove(operation, { tell: true });
  }

  place(operation) {
    let socket = this.sockets.find((candidate) => !candidate.full && !candidate.disposed);
    if (!socket) {
      socket = new Socket(this);
      this.sockets.push(socket);
    }
    socket.add(operation);
  }

  forget(socket) {
    this.sockets = this.sockets.filter((candidate) => candidate !== socket);
  }

  /** Close every socket (on sign-out: they carry the old token). */
  closeAll() {
    for (const socket of [...this.sockets]) socket.dispose();
  }

  get openSockets() {
    return this.sockets.length;
  }

  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  notify(event) {
    for (const listener of this.listeners) listener(event);
  }
}

export const live = new LiveClient();
