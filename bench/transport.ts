/**
 * How the load generator's subscribers receive events: a PyPubSub NDJSON stream,
 * Server-Sent Events on the same raw sockets, or WebSockets.
 *
 * @module
 */

import { type DeliveryStats, type OpenResult, SubscriberSet } from "./subscribers.ts";
import type { SubscriberOptions } from "./subscribers.ts";
import { WsSubscriberSet } from "./ws_subscribers.ts";

/** A subscriber transport the benchmark can drive. */
export type Transport = "ndjson" | "sse" | "ws";

/** Every transport, in column order. */
export const TRANSPORTS: readonly Transport[] = ["ndjson", "sse", "ws"];

/** What the load generator needs of a set of subscribers, whatever their transport. */
export interface Subscribers {
  readonly stats: DeliveryStats;
  /** Subscribers the server ended before {@link Subscribers.close}. */
  readonly ended: number;
  open(concurrency: number, deadlineMs: number): Promise<OpenResult>;
  progress(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The request header lines a raw-socket subscriber of `transport` sends. For WebSockets
 * they are a handshake: the stalled subscriber, which never reads, is a raw socket too.
 */
export function transportHeaders(transport: Transport): string {
  switch (transport) {
    case "ndjson":
      return "";
    case "sse":
      return "Accept: text/event-stream\r\n";
    case "ws":
      return "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
  }
}

/** Subscribers of `transport`; NDJSON and SSE share the raw-socket stream decoder. */
export function subscriberSet(transport: Transport, opts: SubscriberOptions): Subscribers {
  return transport === "ws" ? new WsSubscriberSet(opts) : new SubscriberSet(opts);
}
