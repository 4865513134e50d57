/**
 * The Redis Streams bus: every node appends the events it accepts to one stream and
 * delivers, in stream order, every event it reads from it, its own included. The stream
 * is the history too: trimmed by `backlog.size` (`MAXLEN ~`, on each append) and by
 * `backlog.max_age` (`MINID ~`, every 5 s), and held in each node's memory for replays.
 *
 * @module
 */

import type { Event, PublishTarget } from "../core/event.ts";
import { isCursor } from "../core/event.ts";
import type { Hub } from "../core/hub.ts";
import { errorMessage, log } from "../log.ts";
import type { ServiceMetrics } from "../ops/metrics.ts";
import { type Bus, BusError } from "./bus.ts";
import { type ClusterConfig, redactedUrl } from "./config.ts";
import { entryValues, eventOfEntry } from "./entry.ts";
import { cursorOfEntry, entryMs, previousEntryId } from "./entry_id.ts";
import { BusMetrics } from "./metrics.ts";
import { BLOCK_MS, type StreamEntry, StreamReader } from "./reader.ts";
import { connectRedis, type Redis } from "./redis.ts";
import { Sequence } from "./sequence.ts";
import type { StreamHistory } from "./stream_history.ts";

/**
 * Numbers the event and appends it, in one atomic step, so that readers can tell a gap
 * from the numbers (`sequence.ts`). KEYS: stream, counter. ARGV: MAXLEN, then the fields.
 */
const APPEND_SCRIPT = `local n = redis.call('INCR', KEYS[2])
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'n', n,
  'path', ARGV[2], 'topics', ARGV[3], 'private', ARGV[4], 'body', ARGV[5])`;

/** The stream keeps at least this many entries, so a node that lost Redis can catch up. */
export const STREAM_FLOOR = 1000;
/** A publish Redis has not answered by then gets a 503. */
const PUBLISH_TIMEOUT_MS = 5000;
/** How long a subscriber waits for this node to reach its cursor. */
const REACH_TIMEOUT_MS = 5000;
/** Trimming by age and reading the stream length, every this many ms. */
const MAINTAIN_MS = 5000;
/** What a client told to come back later is told to wait, in seconds. */
const RETRY_AFTER = 1;

/** What the bus delivers to and counts in. */
export interface BusDeps {
  readonly hub: Hub;
  readonly history: StreamHistory;
  readonly metrics: ServiceMetrics;
  /** `server.backlog`: how much the stream keeps. */
  readonly backlog: { readonly size: number; readonly maxAge: number };
}

interface Waiter {
  readonly cursor: string;
  readonly resolve: () => void;
  readonly reject: (err: BusError) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * Connects to Redis, loads the retained events into the history, and starts following
 * the stream.
 *
 * @throws {Error} with one line naming the Redis URL when Redis cannot be reached or the
 * stream cannot be read.
 */
export async function startRedisBus(config: ClusterConfig, deps: BusDeps): Promise<RedisBus> {
  const node = crypto.randomUUID().slice(0, 8);
  const shownUrl = redactedUrl(config.redis);
  const metrics = new BusMetrics(deps.metrics.registry);
  const onReconnect = () => metrics.reconnects.inc();
  const name = `denopubsub-${node}`;
  const commands = await connectRedis({ url: config.redis, shownUrl, name, onReconnect });
  let reading: Redis;
  try {
    reading = await connectRedis({
      url: config.redis,
      shownUrl,
      name: `${name}-reader`,
      idleTimeoutMs: BLOCK_MS + 5000,
      onReconnect,
    });
  } catch (err) {
    commands.destroy();
    throw err;
  }
  const bus = new RedisBus(node, config, deps, metrics, commands, reading);
  try {
    await bus.load();
  } catch (err) {
    await bus.close();
    throw new Error(`cannot read stream "${config.stream}" at ${shownUrl}: ${errorMessage(err)}`);
  }
  log.info("joined the cluster", {
    node,
    redis: shownUrl,
    stream: config.stream,
    retained: deps.history.size,
  });
  return bus;
}

/** One node's side of the Redis stream. Made by {@link startRedisBus}. */
export class RedisBus implements Bus {
  readonly node: string;
  readonly #stream: string;
  readonly #counter: string;
  readonly #shownUrl: string;
  readonly #maxLen: number;
  readonly #maxAgeMs: number;
  readonly #deps: BusDeps;
  readonly #metrics: BusMetrics;
  readonly #commands: Redis;
  readonly #reader: StreamReader;
  readonly #sequence = new Sequence();
  readonly #waiters = new Set<Waiter>();
  #scriptSha = "";
  #maintaining: ReturnType<typeof setInterval> | undefined;
  /** The cursor of the last entry delivered; `""` before the first. */
  #position = "";
  #closed = false;

  constructor(
    node: string,
    config: ClusterConfig,
    deps: BusDeps,
    metrics: BusMetrics,
    commands: Redis,
    reading: Redis,
  ) {
    this.node = node;
    this.#stream = config.stream;
    this.#counter = `${config.stream}:seq`;
    this.#shownUrl = redactedUrl(config.redis);
    this.#maxLen = Math.max(deps.backlog.size, STREAM_FLOOR);
    this.#maxAgeMs = deps.backlog.maxAge * 1000;
    this.#deps = deps;
    this.#metrics = metrics;
    this.#commands = commands;
    this.#reader = new StreamReader({
      client: reading,
      key: config.stream,
      onBatch: (entries, live) => this.#onBatch(entries, live),
      onError: () => metrics.errors.inc(["read"]),
    });
  }

  /** Both connections are up and the last read worked. */
  get connected(): boolean {
    return !this.#closed && this.#commands.isReady && this.#reader.healthy;
  }

  /**
   * Reads the retained events into the history, then follows the stream and keeps it
   * trimmed. Called once, by {@link startRedisBus}.
   */
  async load(): Promise<void> {
    this.#scriptSha = await this.#commands.scriptLoad(APPEND_SCRIPT);
    await this.#reader.load();
    await this.#maintain();
    this.#reader.follow();
    this.#maintaining = setInterval(() => void this.#maintain(), MAINTAIN_MS);
  }

  /** Appends an event; see {@link Bus.publish}. */
  async publish(target: PublishTarget, body: string): Promise<void> {
    if (this.#closed || !this.#commands.isReady) {
      throw new BusError(`Redis at ${this.#shownUrl} is unreachable`, RETRY_AFTER);
    }
    const append = this.#append(entryValues(target, body));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BusError(LATE, RETRY_AFTER)), PUBLISH_TIMEOUT_MS);
    });
    append.catch(() => {});
    try {
      await Promise.race([append, late]);
    } catch (err) {
      this.#metrics.errors.inc(["publish"]);
      if (err instanceof BusError) throw err;
      throw new BusError(`Redis did not take the event: ${errorMessage(err)}`, RETRY_AFTER);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits until this node has delivered `cursor`; see {@link Bus.reach}. */
  async reach(cursor: string): Promise<void> {
    if (!isCursor(cursor) || cursor <= this.#position) return;
    if (!this.connected) {
      throw new BusError(
        "this node cannot reach Redis and has not received the events up to that cursor",
        RETRY_AFTER,
      );
    }
    if (cursor > await this.#newestCursor()) return;
    await this.#waitFor(cursor);
  }

  /** The cursor of the newest entry in the stream; `""` when it is empty. */
  async #newestCursor(): Promise<string> {
    try {
      const newest = await this.#commands.xRevRange(this.#stream, "+", "-", { COUNT: 1 });
      const last = newest?.[0];
      return last ? cursorOfEntry(last.id) : "";
    } catch (err) {
      throw new BusError(`Redis did not answer: ${errorMessage(err)}`, RETRY_AFTER);
    }
  }

  /** Stops reading and trimming, fails pending waits, and closes both connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#maintaining);
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new BusError("the node is stopping", RETRY_AFTER));
    }
    this.#waiters.clear();
    this.#commands.destroy();
    await this.#reader.stop();
  }

  /** Runs the append script, loading it again when Redis lost it (after a restart). */
  async #append(values: string[]): Promise<unknown> {
    const options = {
      keys: [this.#stream, this.#counter],
      arguments: [String(this.#maxLen), ...values],
    };
    try {
      return await this.#commands.evalSha(this.#scriptSha, options);
    } catch (err) {
      if (!errorMessage(err).startsWith("NOSCRIPT")) throw err;
      return await this.#commands.eval(APPEND_SCRIPT, options);
    }
  }

  #onBatch(entries: readonly StreamEntry[], live: boolean): void {
    for (const entry of entries) this.#deliver(entry, live);
    if (this.#waiters.size > 0) this.#wakeWaiters();
  }

  /** Keeps one entry in the history and, once live, hands it to the hub. */
  #deliver(entry: StreamEntry, live: boolean): void {
    this.#checkSequence(entry, live);
    let event: Event;
    try {
      event = eventOfEntry(entry.id, entry.message);
      this.#deps.history.add(event);
    } catch (err) {
      log.warn("stream entry skipped", { id: entry.id, error: errorMessage(err) });
      return;
    }
    this.#position = event.cursor;
    if (!live) return;
    this.#deps.hub.publish(event);
    this.#metrics.lag.observe(Math.max(0, Date.now() - entryMs(entry.id)) / 1000);
  }

  /**
   * Compares the entry's number with the last one. Events trimmed before this node read
   * them leave a hole: the history starts again after it (a replay from before it says
   * `truncated`), and live streams are cut so that their clients reconnect with their
   * cursors and learn of it, rather than miss the events silently.
   */
  #checkSequence(entry: StreamEntry, live: boolean): void {
    const n = Number(entry.message.n);
    if (!Number.isSafeInteger(n) || n < 1) return;
    const check = this.#sequence.check(n);
    const horizon = () => cursorOfEntry(previousEntryId(entry.id));
    if (check.kind === "first" && !live) {
      this.#deps.history.restart(horizon());
    } else if (check.kind === "gap") {
      this.#metrics.missed.inc(check.missed);
      log.warn("events were trimmed from the stream before this node could read them", {
        missed: check.missed,
        before: entry.id,
      });
      this.#deps.history.restart(horizon());
      if (live) this.#deps.hub.forEach((sub) => sub.close("behind"));
    } else if (check.kind === "reset") {
      log.warn("the stream's event numbers started again: Redis lost the stream", {
        id: entry.id,
        n,
      });
    }
  }

  #waitFor(cursor: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        cursor,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(new BusError("this node has not yet received that cursor's event", RETRY_AFTER));
        }, REACH_TIMEOUT_MS),
      };
      this.#waiters.add(waiter);
    });
  }

  #wakeWaiters(): void {
    for (const waiter of this.#waiters) {
      if (waiter.cursor > this.#position) continue;
      clearTimeout(waiter.timer);
      this.#waiters.delete(waiter);
      waiter.resolve();
    }
  }

  /** Trims by age (on Redis's clock, as entry ids are) and reads the stream length. */
  async #maintain(): Promise<void> {
    if (!this.#commands.isReady) return;
    try {
      if (this.#maxAgeMs > 0) {
        const [time] = await this.#commands.time();
        const minId = `${Math.max(0, Number(time) * 1000 - this.#maxAgeMs)}-0`;
        await this.#commands.xTrim(this.#stream, "MINID", minId, { strategyModifier: "~" });
      }
      const length = await this.#commands.xLen(this.#stream);
      this.#metrics.streamLength.read = () => length;
    } catch (err) {
      this.#metrics.errors.inc(["maintain"]);
      log.debug("stream maintenance failed", { error: errorMessage(err) });
    }
  }
}

const LATE = `Redis did not answer within ${PUBLISH_TIMEOUT_MS / 1000} s; ` +
  "the event may still be delivered";
