/**
 * Deno's HTTP server on connections accepted here, so that a connection is closed when its
 * first request head does not arrive in time (`server.timeouts.head`) or when it sits idle
 * between requests (`server.timeouts.idle`). `Deno.serve` has neither: measured with Deno
 * 2.9.6, a connection that sends half a head, or nothing, is held for ever, and no hook sees
 * a connection before its head is complete.
 *
 * Each accepted connection goes to `Deno.serveHttp`, Deno's server for one connection, with
 * an abort signal that closes it (`deno_http_conn.ts` says why not the per-connection form
 * of `Deno.serve`); the engine falls back to `Deno.serve` when a Deno release lacks it.
 *
 * A timed-out connection is cut without an answer: the head is Deno's to read, so nothing
 * here can write a 408 on it.
 *
 * @module
 */

import { errorMessage, log } from "../log.ts";
import type { Deadlines, Expiring, TimeoutPhase, Timeouts } from "./timeouts.ts";
import type { Served, ServeOnConnection } from "./deno_http_conn.ts";

type ServeInfo = Deno.ServeHandlerInfo<Deno.NetAddr>;

/** Lets a handler say that its response outlives it (a stream). */
export interface Holder {
  /** Keeps the connection exempt from the idle timeout until `until` settles. */
  hold(until: Promise<unknown>): void;
}

/** The request handler; `holder` is null when connections are not watched. */
export type ConnectionHandler = (
  req: Request,
  info: ServeInfo,
  holder: Holder | null,
) => Promise<Response>;

/** Where to listen, what to serve, and the deadlines to keep. */
export interface ConnectionOptions {
  readonly hostname: string;
  readonly port: number;
  /** PEM certificate and key for HTTPS (HTTP/2 offered as `Deno.serve` does); null for HTTP. */
  readonly tls: { readonly cert: string; readonly key: string } | null;
  readonly timeouts: Timeouts;
  readonly deadlines: Deadlines;
  readonly handler: ConnectionHandler;
  readonly onError: (err: unknown) => Response;
  /** Told of every connection cut for a timeout, with the socket's peer address. */
  readonly onTimeout: (phase: TimeoutPhase, address: string) => void;
}

/** A listener serving HTTP, as `Deno.serve` returns one. */
export interface Listening {
  readonly addr: Deno.NetAddr;
  shutdown(): Promise<void>;
}

/** How long shutdown lets connections finish before cutting them. */
const SHUTDOWN_GRACE_MS = 2000;
/** The pause after a failed accept (e.g. out of file descriptors) before the next. */
const ACCEPT_RETRY_MS = 100;

/** One accepted connection: its deadline, and how many answers it has under way. */
class Connection implements Expiring, Holder {
  expiresAt = 0;
  /** Requests being answered, and responses that outlive their handler (streams). */
  busy = 0;
  /** What the connection waits for while not busy: its first head, or its next request. */
  phase: "head" | "idle" = "head";
  readonly cut = new AbortController();
  /** Deno's server for this connection, once it is handed over. */
  served: Served | null = null;
  readonly handle: (req: Request, info: ServeInfo) => Promise<Response>;
  readonly release: () => void;

  constructor(readonly address: string, readonly server: WatchedServer) {
    this.handle = (req, info) => server.request(this, req, info);
    this.release = () => server.released(this);
  }

  expire(): void {
    this.server.expired(this);
  }

  hold(until: Promise<unknown>): void {
    this.busy++;
    until.then(this.release, this.release);
  }
}

/** A listener whose connections are each served by Deno and watched here. */
class WatchedServer implements Listening {
  readonly addr: Deno.NetAddr;
  readonly #listener: Deno.Listener;
  readonly #serveOn: ServeOnConnection;
  readonly #opts: ConnectionOptions;
  readonly #connections = new Set<Connection>();
  readonly #accepting: Promise<void>;
  #closing = false;
  #acceptFailing = false;
  #drained: (() => void) | null = null;

  constructor(serveOn: ServeOnConnection, opts: ConnectionOptions) {
    this.#serveOn = serveOn;
    this.#opts = opts;
    const { hostname, port, tls } = opts;
    this.#listener = tls
      ? Deno.listenTls({ hostname, port, ...tls, alpnProtocols: ["h2", "http/1.1"] })
      : Deno.listen({ hostname, port });
    this.addr = this.#listener.addr as Deno.NetAddr;
    this.#accepting = this.#acceptAll();
  }

  /**
   * Marks the connection busy while `handler` answers. Its deadline stays in the sweep, which
   * skips a busy connection: a publish costs two counter updates here, not set operations.
   */
  request(conn: Connection, req: Request, info: ServeInfo): Promise<Response> {
    conn.busy++;
    const answer = this.#opts.handler(req, info, conn);
    answer.then(conn.release, conn.release);
    return answer;
  }

  released(conn: Connection): void {
    if (--conn.busy > 0 || this.#closing) return;
    conn.phase = "idle";
    const { idle } = this.#opts.timeouts;
    if (idle > 0) this.#opts.deadlines.add(conn, idle * 1000);
    else this.#opts.deadlines.delete(conn);
  }

  expired(conn: Connection): void {
    if (conn.busy > 0) return;
    this.#opts.onTimeout(conn.phase, conn.address);
    conn.cut.abort();
  }

  async shutdown(): Promise<void> {
    this.#closing = true;
    this.#listener.close();
    await this.#accepting;
    if (this.#connections.size === 0) return;
    const drained = new Promise<void>((resolve) => this.#drained = resolve);
    const cut = setTimeout(() => {
      for (const conn of this.#connections) conn.cut.abort();
    }, SHUTDOWN_GRACE_MS);
    for (const conn of this.#connections) {
      this.#opts.deadlines.delete(conn);
      conn.served?.shutdown().catch(noop);
    }
    await drained;
    clearTimeout(cut);
  }

  async #acceptAll(): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#closing || err instanceof Deno.errors.BadResource) return;
        this.#acceptFailed(err);
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      if (this.#acceptFailing) {
        this.#acceptFailing = false;
        log.warn("accepting connections again", { port: this.addr.port });
      }
      this.#serve(conn);
    }
  }

  /** Logs the first of a run of failed accepts; the run ends at the next success. */
  #acceptFailed(err: unknown): void {
    if (this.#acceptFailing) return;
    this.#acceptFailing = true;
    log.warn("cannot accept connections", { port: this.addr.port, error: errorMessage(err) });
  }

  #serve(socket: Deno.Conn): void {
    const conn = new Connection((socket.remoteAddr as Deno.NetAddr).hostname, this);
    const { head } = this.#opts.timeouts;
    let served: Served;
    try {
      served = this.#serveOn(socket, conn.cut.signal, conn.handle, this.#opts.onError);
    } catch (err) {
      log.debug("connection not served", { peer: conn.address, error: errorMessage(err) });
      socket.close();
      return;
    }
    conn.served = served;
    this.#connections.add(conn);
    if (head > 0) this.#opts.deadlines.add(conn, head * 1000);
    const gone = () => this.#gone(conn);
    served.finished.then(gone, gone);
  }

  #gone(conn: Connection): void {
    this.#opts.deadlines.delete(conn);
    this.#connections.delete(conn);
    if (this.#closing && this.#connections.size === 0) this.#drained?.();
  }
}

function noop(): void {}

/**
 * Listens and serves every connection through `serveOn`, closing those whose head or next
 * request does not arrive in time.
 *
 * @throws {Error} when the address cannot be bound.
 */
export function serveConnections(
  serveOn: ServeOnConnection,
  opts: ConnectionOptions,
): Listening {
  return new WatchedServer(serveOn, opts);
}
