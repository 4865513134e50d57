/**
 * Which transport a subscription request asks for, on the one topic URL: a WebSocket
 * upgrade, Server-Sent Events, the viewer page for a browser, or PyPubSub's NDJSON stream.
 *
 * @module
 */

import type { Call } from "./engine.ts";

/** The answers a `GET` of a topic URL can get. */
export type Transport = "websocket" | "sse" | "viewer" | "ndjson";

/**
 * Picks the transport: `Upgrade: websocket`, then `Accept: text/event-stream`, then (when
 * the viewer is on) `Accept: text/html`, as a browser navigating sends; anything else,
 * `curl` and PyPubSub clients included, gets NDJSON.
 *
 * @example
 * ```ts ignore
 * transportOf(call, true); // "sse" for an EventSource
 * ```
 */
export function transportOf(call: Call, viewer: boolean): Transport {
  if (call.header("upgrade")?.toLowerCase() === "websocket") return "websocket";
  const accept = call.header("accept");
  if (accept === null) return "ndjson";
  if (accept.includes("text/event-stream")) return "sse";
  if (viewer && accept.includes("text/html")) return "viewer";
  return "ndjson";
}
