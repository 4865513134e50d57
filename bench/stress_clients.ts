/**
 * The clients of the stress run (`stress.ts`): connections that send half a request and
 * hold on, and one real subscriber and one real publisher whose latency is measured
 * meanwhile. Everything goes to 127.0.0.1; every loop ends by count or time.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A connection that sent part of a request and waits for the server to act. */
export class HeldConnection {
  /** The first line the server answered, or "" while it has answered nothing. */
  status = "";
  /** Milliseconds (on `performance.now()`) when the server closed it; null while open. */
  closedAt: number | null = null;
  readonly #conn: Deno.TcpConn;
  #closing = false;
  readonly #reading: Promise<void>;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.#reading = this.#read();
  }

  /** Connects and sends `request`; null when the server refuses the connection. */
  static async open(port: number, request: string): Promise<HeldConnection | null> {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
    } catch {
      return null;
    }
    const held = new HeldConnection(conn);
    await conn.write(encoder.encode(request)).catch(() => 0);
    return held;
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(16384);
    try {
      while (true) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        if (this.status === "") {
          this.status = decoder.decode(buf.subarray(0, Math.min(n, 64))).split("\r\n")[0]!;
        }
      }
    } catch {
      // Reset by the server, or closed here.
    }
    if (!this.#closing) this.closedAt = performance.now();
  }

  /** Closes it from this side, if the server has not. */
  async close(): Promise<void> {
    this.#closing = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    await this.#reading;
  }
}

/**
 * Opens `count` connections that each send `request`, `batch` at a time, until `deadline`
 * (on `performance.now()`).
 */
export async function holdMany(
  port: number,
  request: string,
  count: number,
  deadline: number,
  batch = 200,
): Promise<HeldConnection[]> {
  const held: HeldConnection[] = [];
  while (held.length < count && performance.now() < deadline) {
    const size = Math.min(batch, count - held.length);
    const opened = await Promise.all(
      Array.from({ length: size }, () => HeldConnection.open(port, request)),
    );
    for (const conn of opened) if (conn) held.push(conn);
    if (opened.every((conn) => conn === null)) break;
  }
  return held;
}

/** One publish by the real publisher: when, how long the PUT took, when it was delivered. */
export interface Sample {
  readonly at: number;
  /** PUT round trip in ms; null when it failed. */
  putMs: number | null;
  /** Publish to delivery in ms; null when not delivered (yet). */
  deliveredMs: number | null;
}

/**
 * A real subscriber (raw socket, reading lines as they come) and a real publisher (fetch,
 * one PUT every `intervalMs`) on one topic, recording a {@link Sample} per publish.
 */
export class RealTraffic {
  readonly samples: Sample[] = [];
  readonly #port: number;
  readonly #conn: Deno.TcpConn;
  readonly #client = Deno.createHttpClient({});
  readonly #reading: Promise<void>;
  #publishing: Promise<void> = Promise.resolve();
  #stop = false;

  private constructor(port: number, conn: Deno.TcpConn) {
    this.#port = port;
    this.#conn = conn;
    this.#reading = this.#read();
  }

  /** Subscribes to `/stress/real`. */
  static async start(port: number): Promise<RealTraffic> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(encoder.encode("GET /stress/real HTTP/1.1\r\nHost: stress\r\n\r\n"));
    return new RealTraffic(port, conn);
  }

  /** Publishes every `intervalMs` until `until` (on `performance.now()`). */
  publish(intervalMs: number, until: number): void {
    this.#publishing = this.#publishLoop(intervalMs, until);
  }

  async #publishLoop(intervalMs: number, until: number): Promise<void> {
    for (let seq = 0; !this.#stop && performance.now() < until; seq++) {
      const at = performance.now();
      const sample: Sample = { at, putMs: null, deliveredMs: null };
      this.samples[seq] = sample;
      try {
        const res = await fetch(`http://127.0.0.1:${this.#port}/stress/real`, {
          method: "PUT",
          body: JSON.stringify({ seq }),
          client: this.#client,
          signal: AbortSignal.timeout(10_000),
        });
        await res.body?.cancel();
        if (res.status === 202) sample.putMs = performance.now() - at;
      } catch {
        // Counted as a failed publish.
      }
      const wait = at + intervalMs - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(65536);
    let text = "";
    try {
      while (true) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        text += decoder.decode(buf.subarray(0, n), { stream: true });
        for (const m of text.matchAll(/"seq":(\d+)/g)) {
          const sample = this.samples[Number(m[1])];
          if (sample && sample.deliveredMs === null) {
            sample.deliveredMs = performance.now() - sample.at;
          }
        }
        text = text.slice(text.lastIndexOf("\n") + 1);
      }
    } catch {
      // Closed here at the end.
    }
  }

  /** Stops publishing and closes the subscriber. */
  async stop(): Promise<void> {
    this.#stop = true;
    await this.#publishing;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the server.
    }
    await this.#reading;
    this.#client.close();
  }
}
