/**
 * A signal that the runtime has been through its I/O loop since a given moment.
 *
 * Deno runs JavaScript and its own tasks (the `Deno.serve` connections among them) on one
 * thread. Work that JavaScript triggers in those tasks, such as a connection sending the
 * chunk it was just handed, happens only once JavaScript yields to that thread's scheduler,
 * and the scheduler polls for I/O only after it has run the tasks that are ready (up to a
 * batch of them). A byte sent over a loopback connection to ourselves becomes readable
 * only through that poll, so its arrival tells JavaScript that the ready tasks have run.
 * It is the cheapest I/O event JavaScript can wait for (tens of µs); `setImmediate` can
 * run before those tasks, and `setTimeout(0)` waits a millisecond or more.
 *
 * @module
 */

const ONE_BYTE = new Uint8Array(1);

/**
 * A loopback TCP connection to itself that turns one byte into one tick.
 *
 * @example
 * ```ts
 * import { Ticker } from "./ticker.ts";
 * const ticker = await Ticker.open();
 * await ticker.tick(); // the runtime has polled for I/O since this call
 * ticker.close();
 * ```
 */
export class Ticker {
  readonly #out: Deno.TcpConn;
  readonly #in: Deno.TcpConn;
  /** Larger than a tick, so that reading one byte leaves the socket drained. */
  readonly #buffer = new Uint8Array(16);
  #closed = false;

  private constructor(out: Deno.TcpConn, into: Deno.TcpConn) {
    this.#out = out;
    this.#in = into;
  }

  /**
   * Opens the connection on 127.0.0.1.
   *
   * @throws {Error} when loopback networking is not allowed or not available.
   */
  static async open(): Promise<Ticker> {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const [out, into] = await Promise.all([
        Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
        listener.accept(),
      ]);
      if (into.remoteAddr.port !== out.localAddr.port) {
        out.close();
        into.close();
        throw new Error("a foreign connection reached the ticker's listener");
      }
      out.setNoDelay(true);
      return new Ticker(out, into);
    } finally {
      listener.close();
    }
  }

  /**
   * Resolves once the runtime has polled for I/O after this call; rejects once closed.
   * One tick at a time: the caller waits for it before asking for the next.
   */
  tick(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("ticker closed"));
    // Read first, so the byte can only be seen through the I/O poll, never at once.
    const read = this.#in.read(this.#buffer);
    this.#out.write(ONE_BYTE).catch(() => {
      // Closed meanwhile: the read fails too, and reports it.
    });
    return read.then((n) => {
      if (n === null) throw new Error("ticker closed");
    });
  }

  /** Closes the connection; a pending tick rejects. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#out.close();
    this.#in.close();
  }
}
