/**
 * `server.timeouts` on the `node:http` engine. Node enforces the head and idle timeouts
 * itself, measured inside Deno 2.9.6: `headersTimeout` closes a connection whose head is
 * not complete in time (from the connection's start, or from the first byte of a later
 * request), answering 408; `keepAliveTimeout` closes a connection idle between requests
 * (about a second late: Node adds a buffer). Both are checked every
 * `connectionsCheckingInterval`. Node's `requestTimeout` stays off: it would time the head
 * and body together; the body timeout is the engine's own (`timeouts.ts`), as on `Deno.serve`.
 *
 * @module
 */

import type { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { sweepPeriodMs, type TimeoutPhase, type Timeouts } from "./timeouts.ts";

/** Node's server options for `timeouts`. */
export interface NodeTimeoutOptions {
  readonly headersTimeout: number;
  readonly requestTimeout: number;
  readonly keepAliveTimeout: number;
  readonly connectionsCheckingInterval: number;
}

/** The `http.createServer` options that enforce `timeouts` (0 turns one off, as in Node). */
export function nodeTimeoutOptions(timeouts: Timeouts): NodeTimeoutOptions {
  return {
    headersTimeout: timeouts.head * 1000,
    requestTimeout: 0,
    keepAliveTimeout: timeouts.idle * 1000,
    connectionsCheckingInterval: sweepPeriodMs(timeouts),
  };
}

const encoder = new TextEncoder();
const answer = (status: string) =>
  encoder.encode(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);

/** Node's answers to requests it cannot parse or did not receive in time, by error code. */
const CLIENT_ERRORS: Record<string, Uint8Array> = {
  ERR_HTTP_REQUEST_TIMEOUT: answer("408 Request Timeout"),
  HPE_HEADER_OVERFLOW: answer("431 Request Header Fields Too Large"),
  HPE_CHUNK_EXTENSIONS_OVERFLOW: answer("413 Payload Too Large"),
};
const BAD_REQUEST = answer("400 Bad Request");

/**
 * Reports the connections Node closes for a timeout: a head not received in time (answered
 * 408, as Node does) and an idle kept-alive connection. Other client errors are answered
 * as Node answers them.
 */
export function reportTimeouts(
  server: EventEmitter,
  onTimeout: (phase: TimeoutPhase, address: string) => void,
): void {
  server.on("clientError", (err: Error & { code?: string }, socket: Socket) => {
    if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") onTimeout("head", socket.remoteAddress ?? "");
    if (socket.writable && socket.bytesWritten === 0) {
      socket.end(CLIENT_ERRORS[err.code ?? ""] ?? BAD_REQUEST);
    }
    socket.destroy();
  });
  // Only a kept-alive connection between requests has a socket timeout (server.timeout is 0).
  server.on("timeout", (socket: Socket) => {
    onTimeout("idle", socket.remoteAddress ?? "");
    socket.destroy();
  });
}
