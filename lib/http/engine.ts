/**
 * The HTTP engine contract: an engine accepts connections and turns each request into a
 * call of one handler, `(Call, Peer) => Promise<Reply>`. Two engines implement it:
 * `Deno.serve` (`engine_deno.ts`, the default) and `node:http` inside Deno
 * (`engine_node.ts`); `server.ts` picks one by `server.engine`. `Call` and `Reply` are plain views,
 * so an engine wraps its own request and writes its own response without converting to
 * and from `Request` and `Response`. Every engine enforces `server.timeouts` (see
 * `timeouts.ts`) on requests, never on streams.
 *
 * @module
 */

import type { TlsConfig } from "../config.ts";
import type { Subscriber, SubscriberOptions } from "../core/subscriber.ts";
import type { TimeoutPhase, Timeouts } from "./timeouts.ts";

/** A stream answer's subscriber, and the body to put in the `Response` for it. */
export interface OpenStream {
  readonly subscriber: Subscriber;
  /** What the engine wants as the response body (null when it writes the stream itself). */
  readonly body: ReadableStream<Uint8Array> | null;
}

/** What a handler needs to know about the connection. */
export interface Peer {
  /** The client's IP address as the engine reports it. */
  readonly address: string;
  /** The request's HTTP version ("1.0", "1.1"), or null when the engine does not tell. */
  readonly httpVersion: string | null;
  /**
   * Makes the subscriber that this request's response streams to. The handler answers
   * `200` with the result as {@link Reply.stream}; the engine owns how the bytes leave.
   */
  openStream(opts: SubscriberOptions): OpenStream;
  /**
   * Accepts this request's WebSocket upgrade and makes the subscriber its messages go to;
   * null when the request is not a valid upgrade. A peer silent for `pingSeconds` is
   * pinged, and cut when it does not answer. The handler answers `101` with the
   * result as {@link Reply.stream}. Read every request header before calling this: on
   * `Deno.serve` the request's headers are gone once it is upgraded.
   */
  openSocket(opts: SubscriberOptions, pingSeconds: number): OpenStream | null;
}

/** A request as the handler reads it; each engine wraps its own request type. */
export interface Call {
  readonly method: string;
  /** The request target's path, still percent-encoded, without the query string. */
  readonly path: string;
  /** The length of the request target (path and query) as sent, in bytes. */
  readonly targetLength: number;
  /** A request header by lower-case name, or null when the request has none. */
  header(name: string): string | null;
  /** A query-string parameter, decoded, or null when the target has none by that name. */
  query(name: string): string | null;
  /**
   * Reads the whole body.
   *
   * @throws {HttpError} 413 once the body passes `limit` bytes (before reading when its
   * Content-Length says so), 400 when it cannot be read, 408 when it
   * does not arrive within `server.timeouts.body`.
   */
  body(limit: number): Promise<Uint8Array>;
}

/** The handler's answer: a plain one with text, or a subscription's stream. */
export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string>;
  /**
   * The body of a plain answer; null for none, and for a stream. Without a `Content-Type`
   * in {@link headers}, engines send it as `text/plain;charset=UTF-8` (Deno's own default
   * for a text body, so the `deno` engine need not validate one more header).
   */
  readonly text: string | null;
  /** For a subscription: what {@link Peer.openStream} returned, sent as the body. */
  readonly stream: OpenStream | null;
}

/** The service's request handler, as every engine calls it. */
export type Handler = (call: Call, peer: Peer) => Promise<Reply>;

/** Where and how to listen. */
export interface ListenOptions {
  readonly hostname: string;
  readonly port: number;
  /** A second, HTTPS listener; null for none. */
  readonly tls: TlsConfig | null;
  /** How long a request's head and body, and an idle connection, may take. */
  readonly timeouts: Timeouts;
  /**
   * Told of each connection closed because its head did not arrive in time, or because it
   * sat idle between requests, with the socket's peer address. (A body that does not
   * arrive in time is the 408 of {@link Call.body}.)
   */
  readonly onTimeout: (phase: TimeoutPhase, address: string) => void;
  /**
   * Let other processes listen on the same port (SO_REUSEPORT; the kernel spreads the
   * connections), as the nodes of a cluster on one host do. The `node` engine honours it;
   * `Deno.serve` needs `--unstable-net` for it, so the `deno` engine does not ask.
   */
  readonly reusePort?: boolean;
}

/** Listeners that are up. */
export interface Engine {
  /** The bound port of the plain HTTP listener. */
  readonly port: number;
  /** The bound port of the HTTPS listener, or 0 when there is none. */
  readonly tlsPort: number;
  /**
   * Stops accepting at once; resolves when every connection is done. The caller ends
   * the open streams right after calling this (the hub owns them).
   */
  shutdown(): Promise<void>;
}
