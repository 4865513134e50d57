/**
 * Stalled subscribers: each sends its request and never reads a byte. The server's
 * writes to it back up; the rule is that this must not move any other figure.
 *
 * @module
 */

import { writeAll } from "./publisher_conn.ts";

const encoder = new TextEncoder();

/** Connections that subscribed and then stopped reading. */
export class SlowSubscribers {
  readonly #conns: Deno.Conn[];

  private constructor(conns: Deno.Conn[]) {
    this.#conns = conns;
  }

  /**
   * Opens `count` subscribers to `path` that never read. Connections that fail are left
   * out; how many opened is {@link SlowSubscribers.count}.
   */
  static async open(
    port: number,
    path: string,
    headers: string,
    count: number,
  ): Promise<SlowSubscribers> {
    const request = encoder.encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`);
    const conns: Deno.Conn[] = [];
    for (let i = 0; i < count; i++) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conns.push(conn);
        await writeAll(conn, request);
      } catch {
        // Counted by what opened; the run goes on without it.
      }
    }
    return new SlowSubscribers(conns);
  }

  /** Connections open (or cut by the server, which a non-reader cannot tell). */
  get count(): number {
    return this.#conns.length;
  }

  /** Closes every connection. */
  close(): void {
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  }
}
