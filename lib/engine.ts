/**
 * The HTTP engine contract: an engine accepts connections and turns each request into a
 * call of one handler, `(Request, Peer) => Promise<Response>`. Two engines implement it:
 * `Deno.serve` (`lib/engine_deno.ts`, the default) and `node:http` inside Deno
 * (`lib/engine_node.ts`), chosen by `server.engine`.
 *
 * @module
 */

import type { EngineName, TlsConfig } from "./config.ts";
import { serveDeno } from "./engine_deno.ts";
import { serveNode } from "./engine_node.ts";
import type { Subscriber, SubscriberOptions } from "./subscriber.ts";

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
   * `200` with `body` as the response body; the engine owns how the bytes leave.
   */
  openStream(opts: SubscriberOptions): OpenStream;
}

/** The service's request handler, as every engine calls it. */
export type Handler = (req: Request, peer: Peer) => Promise<Response>;

/** Where and how to listen. */
export interface ListenOptions {
  readonly hostname: string;
  readonly port: number;
  /** A second, HTTPS listener; null for none. */
  readonly tls: TlsConfig | null;
  /** The body size limit in force; an engine that reads bodies for the handler stops past it. */
  readonly maxBodyBytes: () => number;
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

/**
 * Starts the listeners of the named engine.
 *
 * @throws {Error} "cannot listen on ADDRESS port N: why" when a listener cannot start;
 * listeners already started are stopped first.
 */
export function listen(name: EngineName, handler: Handler, opts: ListenOptions): Promise<Engine> {
  return name === "node" ? serveNode(handler, opts) : serveDeno(handler, opts);
}
