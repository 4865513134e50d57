/**
 * One streaming `GET` of a subscription: the request, its answer, and its lines, with
 * silence treated as a dead connection.
 *
 * @module
 */

import { retryAfterMs } from "./backoff.ts";
import { AuthError, describe, reasonOf } from "./errors.ts";
import { LineReader } from "./lines.ts";

/** The content type DenoPubSub and PyPubSub give a subscription stream. */
export const STREAM_TYPE = "application/vnd.pypubsub-stream";

/** Why a connection ended or could not start. */
export interface Failure {
  /** One line, e.g. `503 LDAP is unavailable` or `no bytes for 15 s`. */
  readonly reason: string;
  /** The HTTP status when the server answered with one other than 200. */
  readonly status: number | null;
  /** How long the server asked the client to wait (`Retry-After`), in milliseconds. */
  readonly retryAfterMs: number | null;
}

/** The start of a connection: the stream's headers, or why there is no stream. */
export type Opened = { readonly headers: Headers } | { readonly failure: Failure };

/**
 * A subscription request and its stream. Every wait (for the answer, for the next bytes)
 * is bounded by `silenceMs`: a server that stopped, or a network that dropped the
 * connection without a word, look the same from here.
 *
 * @example
 * ```ts ignore
 * import { Connection } from "./connection.ts";
 * const conn = new Connection("http://localhost:2069/t", {}, 15_000);
 * const opened = await conn.open();
 * if ("headers" in opened) console.log(await conn.next());
 * await conn.close();
 * ```
 */
export class Connection {
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #silenceMs: number;
  readonly #abort = new AbortController();
  readonly #outer: AbortSignal | undefined;
  readonly #expire = () => {
    this.#silent = true;
    this.#abort.abort();
  };
  readonly #cancel = () => this.#abort.abort();
  #silent = false;
  #lines: LineReader | null = null;

  /**
   * @param headers request headers (resume point, credentials).
   * @param silenceMs the longest wait for an answer or for bytes.
   * @param signal aborts the request from outside.
   */
  constructor(
    url: string,
    headers: Record<string, string>,
    silenceMs: number,
    signal?: AbortSignal,
  ) {
    this.#url = url;
    this.#headers = { Accept: STREAM_TYPE, ...headers };
    this.#silenceMs = silenceMs;
    this.#outer = signal;
    signal?.addEventListener("abort", this.#cancel, { once: true });
  }

  /**
   * Sends the request and waits for the answer.
   *
   * @throws {AuthError} on 401 or 403: reconnecting would not help.
   */
  async open(): Promise<Opened> {
    const timer = setTimeout(this.#expire, this.#silenceMs);
    try {
      const res = await fetch(this.#url, { headers: this.#headers, signal: this.#abort.signal });
      if (res.status === 200 && res.body) {
        this.#lines = new LineReader(res.body, this.#silenceMs, this.#expire, this.#abort.signal);
        return { headers: res.headers };
      }
      const reason = await reasonOf(res);
      if (res.status === 401 || res.status === 403) throw new AuthError(res.status, reason);
      const retryAfter = retryAfterMs(res.headers.get("retry-after"));
      return {
        failure: {
          reason: `${res.status} ${reason}`,
          status: res.status,
          retryAfterMs: retryAfter,
        },
      };
    } catch (err) {
      if (err instanceof AuthError) throw err;
      return { failure: this.failure(err, "cannot connect") };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The next line of the stream; null when the server ended it. Throws when it is cut. */
  next(): Promise<string | null> {
    return this.#lines!.next();
  }

  /** Why the connection failed with `err`, while `doing` something. */
  failure(err: unknown, doing = "stream cut"): Failure {
    const reason = this.#silent
      ? `no bytes for ${this.#silenceMs / 1000} s`
      : `${doing}: ${describe(err)}`;
    return { reason, status: null, retryAfterMs: null };
  }

  /** Ends the request and releases its stream; safe to call more than once. */
  async close(): Promise<void> {
    this.#outer?.removeEventListener("abort", this.#cancel);
    this.#abort.abort();
    await this.#lines?.close();
  }
}
