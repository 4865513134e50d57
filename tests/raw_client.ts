/**
 * A raw TCP client for tests that send what `fetch` cannot: half a request head, a body
 * that stops, pipelined requests. It collects everything the server sends and notes when
 * the server closes the connection.
 */

import { waitFor } from "./helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A raw connection to a test server. */
export class RawClient {
  readonly #conn: Deno.TcpConn;
  readonly #opened = performance.now();
  #text = "";
  #closedAfter: number | null = null;
  readonly #reading: Promise<void>;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.#reading = this.#read();
  }

  /** Connects to `port` on 127.0.0.1. */
  static async connect(port: number): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    return new RawClient(conn);
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(65536);
    try {
      while (true) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        this.#text += decoder.decode(buf.subarray(0, n), { stream: true });
      }
    } catch {
      // Closed here, or reset by the server: either way nothing more arrives.
    }
    this.#closedAfter = performance.now() - this.#opened;
  }

  /** Everything received so far. */
  get text(): string {
    return this.#text;
  }

  /** Milliseconds from connecting until the connection closed; null while open. */
  get closedAfterMs(): number | null {
    return this.#closedAfter;
  }

  send(text: string): Promise<number> {
    return this.#conn.write(encoder.encode(text));
  }

  /** Ends the sending half: the server reads the end of the request stream. */
  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  /** Waits until the received text holds `part` (`times` times). */
  async received(part: string, timeoutMs = 3000, times = 1): Promise<void> {
    const count = () => this.#text.split(part).length - 1;
    await waitFor(() => count() >= times, timeoutMs, `${times} × ${JSON.stringify(part)}`);
  }

  /** Waits until the server closed the connection. */
  async closedByServer(timeoutMs = 5000): Promise<void> {
    await waitFor(
      () => this.#closedAfter !== null,
      timeoutMs,
      "the server to close the connection",
    );
  }

  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // The read loop saw the end and the connection is gone already.
    }
    await this.#reading;
  }
}
