/**
 * One connection served by `Deno.serveHttp`, in the shape `deno_connections.ts` watches.
 *
 * Not `Deno[Deno.internal].serveHttpOnConnection`, the per-connection form of `Deno.serve`:
 * measured with Deno 2.9.6, that server ends as soon as a WebSocket upgrade has taken the
 * socket away from HTTP, and ending it closes the server's WebSockets (Deno closes them when
 * their server shuts down), so every upgraded socket closed right after its `101`. A stream
 * cut by erroring its body also left that server's resource open. `Deno.serveHttp` hands an
 * upgraded socket over and lets it live, and its connection is closed here, by us.
 *
 * What it costs: its `respondWith` awaits one write operation per body chunk, so a stream
 * delivery takes about 2.3 times the server's CPU that it takes under `Deno.serve` (measured
 * with 1,000 subscribers; bench/README.md). In return every chunk leaves as a chunk of its
 * own, so the lines need no pacing, and an idle stream holds less memory (43 KB, not 57).
 *
 * `Deno.serveHttp` is not in Deno 2's type declarations but is still served; the engine
 * falls back to `Deno.serve` when a Deno release lacks it.
 *
 * @module
 */

type ServeInfo = Deno.ServeHandlerInfo<Deno.NetAddr>;

/** A request and the way to answer it, as `Deno.serveHttp` yields them. */
interface RequestEvent {
  readonly request: Request;
  respondWith(answer: Response | Promise<Response>): Promise<void>;
}

/** The connection `Deno.serveHttp` returns. */
interface HttpConn {
  nextRequest(): Promise<RequestEvent | null>;
  close(): void;
}

type ServeHttp = (conn: Deno.Conn) => HttpConn;

/** Deno's server for one connection. */
export interface Served {
  /** Settles when the connection is closed. */
  readonly finished: Promise<void>;
  /** Lets answers under way finish, then closes. */
  shutdown(): Promise<void>;
}

/** Serves one connection until `signal` aborts or the peer goes away. */
export type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: (req: Request, info: ServeInfo) => Promise<Response>,
  onError: (err: unknown) => Response,
) => Served;

/** Serving through `Deno.serveHttp`, or null when this Deno does not have it. */
export function perConnectionServing(): ServeOnConnection | null {
  const serveHttp = (Deno as unknown as { serveHttp?: unknown }).serveHttp;
  if (typeof serveHttp !== "function") return null;
  return (conn, signal, handler, onError) =>
    new ServedConnection(serveHttp as ServeHttp, conn, signal, handler, onError);
}

class ServedConnection implements Served {
  readonly finished: Promise<void>;
  readonly #http: HttpConn;
  readonly #remoteAddr: Deno.NetAddr;
  readonly #handler: (req: Request, info: ServeInfo) => Promise<Response>;
  readonly #onError: (err: unknown) => Response;
  /** Answers being written, streams included: each one's way to fail its `completed`. */
  readonly #answering = new Set<(err: Error) => void>();
  #closing = false;

  constructor(
    serveHttp: ServeHttp,
    conn: Deno.Conn,
    signal: AbortSignal,
    handler: (req: Request, info: ServeInfo) => Promise<Response>,
    onError: (err: unknown) => Response,
  ) {
    this.#http = serveHttp(conn);
    this.#remoteAddr = conn.remoteAddr as Deno.NetAddr;
    this.#handler = handler;
    this.#onError = onError;
    signal.addEventListener("abort", () => this.#close(), { once: true });
    this.finished = this.#serveAll();
  }

  shutdown(): Promise<void> {
    this.#closing = true;
    if (this.#answering.size === 0) this.#close();
    return this.finished;
  }

  async #serveAll(): Promise<void> {
    for (;;) {
      let event: RequestEvent | null;
      try {
        event = await this.#http.nextRequest();
      } catch {
        // The peer went away or the connection was closed here: nothing more to serve.
        break;
      }
      if (event === null) break;
      this.#answer(event);
    }
    this.#close();
    // A stream waiting for its next line learns that its peer left only here: Deno.serveHttp
    // notices a write to a closed connection, not a connection closed between writes.
    const gone = new Error("connection closed");
    for (const fail of this.#answering) fail(gone);
  }

  /**
   * `completed` settles once the whole answer is written, as `Deno.serve` has it, and fails
   * when the connection closes first.
   */
  #answer(event: RequestEvent): void {
    const completed = Promise.withResolvers<void>();
    completed.promise.catch(noop);
    this.#answering.add(completed.reject);
    const info: ServeInfo = { remoteAddr: this.#remoteAddr, completed: completed.promise };
    const answer = this.#handler(event.request, info).catch(this.#onError);
    event.respondWith(answer).then(completed.resolve, completed.reject).finally(() => {
      this.#answering.delete(completed.reject);
      if (this.#answering.size === 0 && this.#closing) this.#close();
    });
  }

  #close(): void {
    try {
      this.#http.close();
    } catch {
      // Already closed by Deno when the peer went away.
    }
  }
}

function noop(): void {}
