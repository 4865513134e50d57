/**
 * What one request or one client may hold: topic sets per stream, topics per set and per
 * publish path, the length of a request target, concurrent streams per client address and
 * in total. Without them one anonymous client could put millions of entries in the topic
 * trie or take every file descriptor. Each refusal is a {@link LimitError} naming the key
 * to raise.
 *
 * @module
 */

import { HttpError } from "./error.ts";
import type { Section } from "../section.ts";
import type { TopicSet } from "../core/topics.ts";

/** The limits in force (`server.max_*`); swapped whole on reload. */
export interface Limits {
  /** Comma-separated topic sets in one subscription. */
  readonly maxTopicSets: number;
  /** Topics in one subscription set, and in one publish path. */
  readonly maxTopics: number;
  /** Bytes of a request target (path and query). */
  readonly maxTargetBytes: number;
  /** Streams one client address may hold at once; 0 for no limit. */
  readonly maxStreamsPerClient: number;
  /** Streams in total; 0 for no limit, null for what the file-descriptor limit allows. */
  readonly maxStreams: number | null;
}

/** Roomy for every PyPubSub client and sample config; small enough to bound the trie. */
export const LIMIT_DEFAULTS: Limits = {
  maxTopicSets: 64,
  maxTopics: 32,
  maxTargetBytes: 8192,
  maxStreamsPerClient: 0,
  maxStreams: null,
};

/** Seconds a client refused for a stream limit is asked to wait. */
const RETRY_AFTER = { perClient: "10", total: "30" } as const;

/**
 * Reads the `server.max_*` limit keys.
 *
 * @throws {ConfigError} naming the key when a value is not a whole number in range.
 */
export function parseLimits(server: Section): Limits {
  const d = LIMIT_DEFAULTS;
  return {
    maxTopicSets: server.int("max_topic_sets", d.maxTopicSets, 1, 100_000),
    maxTopics: server.int("max_topics", d.maxTopics, 1, 10_000),
    // Deno.serve reads heads up to about 64 KB.
    maxTargetBytes: server.int("max_target_bytes", d.maxTargetBytes, 256, 65_536),
    maxStreamsPerClient: server.int("max_streams_per_client", d.maxStreamsPerClient, 0, 1e9),
    maxStreams: server.has("max_streams") ? server.int("max_streams", 0, 0, 1e9) : null,
  };
}

/** Which limit refused a request, as the metric labels it. */
export type LimitName = "topic_sets" | "topics" | "target" | "client_streams" | "streams";

/** A request refused for passing a limit. */
export class LimitError extends HttpError {
  override name = "LimitError";

  constructor(
    readonly limit: LimitName,
    status: number,
    message: string,
    headers?: Record<string, string>,
  ) {
    super(status, message, headers);
  }
}

/** @throws {LimitError} 414 when the request target is longer than allowed. */
export function checkTarget(bytes: number, limits: Limits): void {
  if (bytes <= limits.maxTargetBytes) return;
  throw new LimitError(
    "target",
    414,
    `request target of ${bytes} bytes; at most ${limits.maxTargetBytes} (server.max_target_bytes)`,
  );
}

/** @throws {LimitError} 400 when a subscription has too many sets, or a set too many topics. */
export function checkSubscription(sets: readonly TopicSet[], limits: Limits): void {
  if (sets.length > limits.maxTopicSets) {
    throw new LimitError(
      "topic_sets",
      400,
      `subscription has ${sets.length} topic sets; at most ${limits.maxTopicSets} (server.max_topic_sets)`,
    );
  }
  for (const set of sets) {
    if (set.length > limits.maxTopics) {
      throw new LimitError(
        "topics",
        400,
        `a subscription set has ${set.length} topics; at most ${limits.maxTopics} (server.max_topics)`,
      );
    }
  }
}

/** @throws {LimitError} 400 when a publish path has too many topics. */
export function checkPublishTopics(topics: readonly string[], limits: Limits): void {
  if (topics.length <= limits.maxTopics) return;
  throw new LimitError(
    "topics",
    400,
    `publish path has ${topics.length} topics; at most ${limits.maxTopics} (server.max_topics)`,
  );
}

/**
 * Open streams per client address. Counted whatever the limit, so that a reload which
 * sets one counts the streams already open.
 *
 * @example
 * ```ts
 * import { LIMIT_DEFAULTS, StreamCounts } from "./limits.ts";
 * const counts = new StreamCounts();
 * const stream = {};
 * counts.admit("192.0.2.1", 0, { ...LIMIT_DEFAULTS, maxStreamsPerClient: 1 }, 100);
 * counts.opened(stream, "192.0.2.1");
 * console.assert(counts.of("192.0.2.1") === 1);
 * counts.closed(stream);
 * ```
 */
export class StreamCounts {
  readonly #perClient = new Map<string, number>();
  /** Which client each counted stream belongs to. */
  readonly #clientOf = new WeakMap<object, string>();

  /** Streams `client` holds now. */
  of(client: string): number {
    return this.#perClient.get(client) ?? 0;
  }

  /**
   * Checks that one more stream fits.
   *
   * @param open streams open now, in total.
   * @param maxStreams the total limit in force (0: none).
   * @throws {LimitError} 429 past the per-client limit, 503 past the total.
   */
  admit(client: string, open: number, limits: Limits, maxStreams: number): void {
    const perClient = limits.maxStreamsPerClient;
    if (perClient > 0 && this.of(client) >= perClient) {
      throw new LimitError(
        "client_streams",
        429,
        `${client} holds ${perClient} streams already (server.max_streams_per_client)`,
        { "Retry-After": RETRY_AFTER.perClient },
      );
    }
    if (maxStreams > 0 && open >= maxStreams) {
      throw new LimitError(
        "streams",
        503,
        `the server holds ${maxStreams} streams already (server.max_streams)`,
        { "Retry-After": RETRY_AFTER.total },
      );
    }
  }

  /** Counts `stream` for `client`. */
  opened(stream: object, client: string): void {
    this.#clientOf.set(stream, client);
    this.#perClient.set(client, this.of(client) + 1);
  }

  /** Uncounts `stream`; one never counted is ignored. */
  closed(stream: object): void {
    const client = this.#clientOf.get(stream);
    if (client === undefined) return;
    this.#clientOf.delete(stream);
    const left = this.of(client) - 1;
    if (left > 0) this.#perClient.set(client, left);
    else this.#perClient.delete(client);
  }
}
