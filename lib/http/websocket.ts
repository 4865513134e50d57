/**
 * What both WebSocket transports share: the close code and reason a subscriber is closed
 * with, and how often a peer must answer a ping (`server.websocket.ping`).
 *
 * @module
 */

import type { CloseReason } from "../core/subscriber.ts";
import type { Section } from "../section.ts";

/** Seconds a socket may stay silent before it is pinged, unless `server.websocket.ping` says. */
export const PING_SECONDS = 30;

/** WebSocket settings (`server.websocket`). */
export interface WebSocketConfig {
  /** Seconds a socket may stay silent before it is pinged; a peer that misses a pong is cut. */
  readonly ping: number;
}

/**
 * Reads `server.websocket`.
 *
 * @throws {ConfigError} naming the key when `ping` is not a duration above zero.
 * @example
 * ```ts
 * import { parseWebSocket } from "./websocket.ts";
 * import { Section } from "../section.ts";
 * const server = Section.of("pubsub.yaml", "server", { websocket: { ping: "10s" } });
 * console.assert(parseWebSocket(server).ping === 10);
 * ```
 */
export function parseWebSocket(server: Section): WebSocketConfig {
  const websocket = server.section("websocket");
  const ping = websocket.duration("ping", PING_SECONDS);
  if (ping <= 0) websocket.fail("ping", "must be more than 0 seconds (a silent peer is never cut)");
  return { ping };
}

/** A WebSocket close frame's code and reason (at most 123 bytes). */
export interface SocketClose {
  readonly code: number;
  readonly reason: string;
}

const CLOSES: Record<CloseReason, SocketClose> = {
  client: { code: 1000, reason: "" },
  shutdown: { code: 1001, reason: "server shutting down" },
  // 1008 (policy violation): the client broke the byte budget; it reconnects with its cursor.
  slow: { code: 1008, reason: "too slow: more than server.max_queued_bytes unsent" },
  revoked: { code: 1008, reason: "access revoked" },
  // 1011 (unexpected condition): this node missed events; the client resumes elsewhere or here.
  behind: { code: 1011, reason: "this node missed events; reconnect with your cursor" },
};

/**
 * The close frame for a subscriber ended for `reason`.
 *
 * @example
 * ```ts
 * import { socketClose } from "./websocket.ts";
 * console.assert(socketClose("slow").code === 1008);
 * ```
 */
export function socketClose(reason: CloseReason): SocketClose {
  return CLOSES[reason];
}
