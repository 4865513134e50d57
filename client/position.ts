/**
 * Where a subscription resumes after a reconnect: after the last event it yielded, or,
 * before the first, from the point where it went live.
 *
 * @module
 */

/** What the server said about the cursor a subscription resumed from. */
export type CursorNotice =
  /** Retention dropped events after `cursor` before they could be replayed. */
  | { readonly type: "truncated"; readonly cursor: string }
  /** The server cannot place `cursor` (another deployment's, or PyPubSub's UUIDv4). */
  | { readonly type: "cursor-unknown"; readonly cursor: string };

/**
 * The resume point of one subscription. It holds a cursor (`X-Fetch-Since-Cursor`) or a
 * time (`X-Fetch-Since`), or nothing until the first answer says where live began:
 * the newest cursor the server had (`X-Newest-Cursor`), else the server's clock in the
 * first keepalive line. Either way a reconnect replays what the client missed, even
 * before its first event.
 *
 * @example
 * ```ts
 * import { Position } from "./position.ts";
 * const position = new Position(null, 1700000000);
 * console.assert(position.headers()["X-Fetch-Since"] === "1700000000");
 * position.yielded("01a21e48-d63f-7000-82ea-c42733d4c408", 1700000001);
 * console.assert(position.cursor === "01a21e48-d63f-7000-82ea-c42733d4c408");
 * ```
 */
export class Position {
  #cursor: string | null;
  #since: number | null;

  constructor(cursor: string | null = null, since: number | null = null) {
    this.#cursor = cursor;
    this.#since = cursor === null ? since : null;
  }

  /** The cursor of the last event yielded (or the one the subscription started from). */
  get cursor(): string | null {
    return this.#cursor;
  }

  /** The time replay starts from when there is no cursor, in seconds since the epoch. */
  get since(): number | null {
    return this.#since;
  }

  /** The headers that ask the server to replay from here. */
  headers(): Record<string, string> {
    if (this.#cursor !== null) return { "X-Fetch-Since-Cursor": this.#cursor };
    if (this.#since !== null) return { "X-Fetch-Since": String(this.#since) };
    return {};
  }

  /**
   * Takes in the headers of a stream answer. An unknown cursor is replaced by the newest
   * one, since the stream went live from there; so is the lack of any resume point.
   *
   * @returns what the server said about the cursor sent, if anything.
   */
  answered(headers: Headers): CursorNotice | null {
    const sent = this.#cursor;
    const newest = headers.get("x-newest-cursor");
    if (sent !== null && headers.get("x-cursor-unknown") === "true") {
      this.#cursor = newest;
      return { type: "cursor-unknown", cursor: sent };
    }
    if (sent === null && this.#since === null) this.#cursor = newest;
    if (sent !== null && headers.get("x-backlog-truncated") === "true") {
      return { type: "truncated", cursor: sent };
    }
    return null;
  }

  /** A keepalive line with the server's clock: live began by then, if nothing else says. */
  keepalive(serverTime: number): void {
    if (this.#cursor === null && this.#since === null) this.#since = serverTime;
  }

  /**
   * An event was handed to the consumer. Without a cursor (a server that sends none) the
   * event's time is the best resume point left.
   */
  yielded(cursor: unknown, timestamp: unknown): void {
    if (typeof cursor === "string") {
      this.#cursor = cursor;
      this.#since = null;
    } else if (typeof timestamp === "number") {
      this.#cursor = null;
      this.#since = timestamp;
    }
  }
}
