/**
 * Subscribing: an async iterable of events that reconnects forever and resumes after the
 * last event it yielded, so that no event is missed and none arrives twice.
 *
 * @module
 */

import { Backoff, type BackoffOptions, sleep } from "./backoff.ts";
import { Connection, type Failure } from "./connection.ts";
import { type CursorNotice, Position } from "./position.ts";
import { type Credentials, withAuth } from "./request.ts";

/**
 * An event as the server sent it: the publisher's JSON object plus the fields the server
 * adds. A keepalive line (asked for with `keepalives`) is `{ stillalive: <epoch> }`.
 */
export type PubSubEvent = {
  readonly pubsub_cursor?: string;
  readonly pubsub_topics?: readonly string[];
  readonly pubsub_path?: string;
  readonly pubsub_timestamp?: number;
  readonly stillalive?: number;
} & Readonly<Record<string, unknown>>;

/** An event with the exact line it came in (without the line break). */
export interface ReceivedLine {
  readonly line: string;
  readonly event: PubSubEvent;
}

/** What a subscription is doing, reported through `onState`. */
export type SubscriptionState =
  /** A request is about to be sent, resuming from `cursor` or `since` when set. */
  | {
    readonly type: "connecting";
    readonly attempt: number;
    readonly cursor: string | null;
    readonly since: number | null;
  }
  /**
   * The server answered with a stream. `newestCursor` is its newest event, if any;
   * `cursor` is where the subscription resumes from should this connection fail: the
   * last event yielded, or where the stream went live (null when only a time says so).
   */
  | {
    readonly type: "connected";
    readonly newestCursor: string | null;
    readonly cursor: string | null;
  }
  /** The connection ended or could not start; the next attempt is in `retryInMs`. */
  | ({ readonly type: "disconnected"; readonly retryInMs: number } & Failure)
  | CursorNotice;

/** Options of {@link subscribe}. */
export interface SubscribeOptions extends BackoffOptions {
  /** HTTP Basic credentials, for private events. */
  auth?: Credentials;
  /** Start after this event (its `pubsub_cursor`): the server replays what came since. */
  cursor?: string;
  /** Start from this time (seconds since the epoch), when there is no `cursor`. */
  since?: number;
  /** Ends the subscription: the iteration finishes without an error. */
  signal?: AbortSignal;
  /**
   * Called on each change of state, synchronously. It is how a subscription says that
   * events were lost to retention (`truncated`) or that the server could not place the
   * cursor (`cursor-unknown`); throwing from it ends the iteration with that error.
   */
  onState?: (state: SubscriptionState) => void;
  /** Yield the `{"stillalive": …}` lines too (default false). */
  keepalives?: boolean;
  /**
   * The server's keepalive interval in milliseconds (default 5000, the server's
   * default). Three intervals without a byte mean a dead connection.
   */
  keepaliveMs?: number;
}

/**
 * Subscribes to `url` and yields its events, parsed, in order, for as long as the caller
 * iterates. Connections that fail, end, are cut or fall silent are replaced, with
 * jittered exponential backoff, by one that resumes after the last event yielded
 * (`X-Fetch-Since-Cursor`). It ends only when `signal` aborts or the loop breaks, and
 * throws only {@link AuthError} (401, 403) or what `onState` throws.
 *
 * @example
 * ```ts ignore
 * import { subscribe } from "@denopubsub/server/client";
 * const stop = new AbortController();
 * for await (const event of subscribe("http://localhost:2069/git", { signal: stop.signal })) {
 *   console.log(event.pubsub_topics, event.pubsub_cursor);
 * }
 * ```
 */
export async function* subscribe(
  url: string | URL,
  opts: SubscribeOptions = {},
): AsyncGenerator<PubSubEvent, void, undefined> {
  for await (const received of subscribeLines(url, opts)) yield received.event;
}

/**
 * {@link subscribe}, yielding each event with the exact line the server sent, for
 * consumers that pass lines on unchanged (`sub --raw`).
 *
 * @example
 * ```ts ignore
 * import { subscribeLines } from "@denopubsub/server/client";
 * for await (const { line } of subscribeLines("http://localhost:2069/git")) console.log(line);
 * ```
 */
export async function* subscribeLines(
  url: string | URL,
  opts: SubscribeOptions = {},
): AsyncGenerator<ReceivedLine, void, undefined> {
  const href = String(url);
  const { signal } = opts;
  const report = opts.onState ?? (() => {});
  const position = new Position(opts.cursor ?? null, opts.since ?? null);
  const backoff = new Backoff(opts);
  const silenceMs = 3 * (opts.keepaliveMs ?? 5000);
  let attempt = 0;
  const healthy = () => {
    attempt = 0;
    backoff.reset();
  };
  while (!signal?.aborted) {
    const { cursor, since } = position;
    report({ type: "connecting", attempt: ++attempt, cursor, since });
    const conn = new Connection(href, withAuth(position.headers(), opts.auth), silenceMs, signal);
    let failure: Failure;
    try {
      const opened = await conn.open();
      if ("failure" in opened) {
        failure = opened.failure;
      } else {
        const notice = position.answered(opened.headers);
        const newestCursor = opened.headers.get("x-newest-cursor");
        report({ type: "connected", newestCursor, cursor: position.cursor });
        if (notice) report(notice);
        failure = yield* relay(conn, position, opts.keepalives ?? false, healthy);
      }
    } finally {
      await conn.close();
    }
    if (signal?.aborted) return;
    const retryInMs = backoff.after(failure.retryAfterMs);
    report({ type: "disconnected", retryInMs, ...failure });
    if (!await sleep(retryInMs, signal)) return;
  }
}

/**
 * Yields the events of one connection, moving `position` past each, until the stream
 * ends or fails; returns why. `healthy` is called on each valid line.
 */
async function* relay(
  conn: Connection,
  position: Position,
  keepalives: boolean,
  healthy: () => void,
): AsyncGenerator<ReceivedLine, Failure, undefined> {
  for (;;) {
    let line: string | null;
    try {
      line = await conn.next();
    } catch (err) {
      return conn.failure(err);
    }
    if (line === null) return ENDED;
    const event = parse(line);
    if (event === null) return NOT_JSON;
    healthy();
    if (isKeepalive(event)) {
      position.keepalive(event.stillalive);
      if (keepalives) yield { line, event };
    } else {
      position.yielded(event.pubsub_cursor, event.pubsub_timestamp);
      yield { line, event };
    }
  }
}

const ENDED: Failure = { reason: "the server ended the stream", status: null, retryAfterMs: null };
const NOT_JSON: Failure = {
  reason: "the server sent a line that is not a JSON object",
  status: null,
  retryAfterMs: null,
};

/** A line parsed, or null when it is not a JSON object. */
function parse(line: string): PubSubEvent | null {
  try {
    const value: unknown = JSON.parse(line);
    return value && typeof value === "object" && !Array.isArray(value)
      ? value as PubSubEvent
      : null;
  } catch {
    return null;
  }
}

function isKeepalive(event: PubSubEvent): event is PubSubEvent & { stillalive: number } {
  return typeof event.stillalive === "number" && !("pubsub_topics" in event);
}
