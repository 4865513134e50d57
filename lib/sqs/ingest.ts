/**
 * SQS ingestion, as in PyPubSub: each configured queue is long-polled, and each message
 * body (a JSON object whose `pubsub_path` gives the topics, `/` when absent) is published
 * like an HTTP publish. Messages already seen are skipped by id; errors are retried with
 * an exponential backoff and one log line each.
 *
 * This module loads the AWS SDK: import it only when queues are configured.
 *
 * Folder `lib/sqs/`: SQS ingestion and its config section (`config.ts`), which is read
 * without loading the AWS SDK.
 *
 * @module
 */

import {
  DeleteMessageCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { PayloadError, type PublishTarget } from "../core/event.ts";
import { errorMessage, log } from "../log.ts";
import type { ServiceMetrics } from "../ops/metrics.ts";
import type { Published } from "../http/server.ts";
import type { SqsQueueConfig } from "./config.ts";
import { parsePublishPath, TopicError } from "../core/topics.ts";
import { VERSION } from "../version.ts";

/** Publishes a validated target and body; the server's `publishEvent`. */
export type PublishFn = (target: PublishTarget, body: string) => Published;

/** What the readers publish to and count in. */
export interface SqsDeps {
  readonly publish: PublishFn;
  readonly metrics: Pick<ServiceMetrics, "sqsMessages" | "sqsErrors" | "rejected">;
}

/** Tuning; the defaults suit AWS. */
export interface SqsOptions {
  /** Long-poll time of each receive, in seconds (SQS allows 0 to 20). */
  waitSeconds?: number;
  /** Delay before the first retry after an error, in ms; doubles on each failure. */
  backoffMs?: number;
  /** Longest delay between retries, in ms. */
  maxBackoffMs?: number;
  /** How many message ids are remembered to skip duplicates. */
  rememberIds?: number;
}

const DEFAULTS: Required<SqsOptions> = {
  waitSeconds: 20,
  backoffMs: 1000,
  maxBackoffMs: 60_000,
  rememberIds: 10_000,
};

/**
 * The most recently seen message ids, at most `capacity` of them: a hit counts as a use,
 * the least recently used id is forgotten first.
 *
 * @example
 * ```ts
 * import { RecentIds } from "./ingest.ts";
 * const ids = new RecentIds(2);
 * ids.add("a"); ids.add("b"); ids.add("c");
 * console.assert(!ids.has("a") && ids.has("c"));
 * ```
 */
export class RecentIds {
  readonly #ids = new Set<string>();

  constructor(readonly capacity: number) {}

  /** True when `id` was seen (and is still remembered). */
  has(id: string): boolean {
    if (!this.#ids.delete(id)) return false;
    this.#ids.add(id);
    return true;
  }

  /** Remembers `id`, forgetting the least recently used id when full. */
  add(id: string): void {
    this.#ids.delete(id);
    this.#ids.add(id);
    if (this.#ids.size > this.capacity) this.#ids.delete(this.#ids.values().next().value!);
  }

  /** How many ids are remembered. */
  get size(): number {
    return this.#ids.size;
  }
}

/**
 * Reads every configured queue until stopped. Ids are remembered across queues, as in
 * PyPubSub.
 *
 * @example
 * ```ts ignore
 * import { SqsIngest } from "./ingest.ts";
 * const publish = (target, body) => server.publishEvent(target, body);
 * const ingest = new SqsIngest(config.sqs, { publish, metrics: server.metrics });
 * await ingest.stop();
 * ```
 */
export class SqsIngest {
  readonly readers: readonly QueueReader[];
  /** Message ids seen, shared by every queue. */
  readonly seen: RecentIds;

  constructor(queues: readonly SqsQueueConfig[], deps: SqsDeps, options: SqsOptions = {}) {
    const opts = { ...DEFAULTS, ...options };
    this.seen = new RecentIds(opts.rememberIds);
    this.readers = queues.map((queue) => new QueueReader(queue, deps, opts, this.seen));
  }

  /** Stops every reader: pending long polls are aborted. */
  async stop(): Promise<void> {
    await Promise.all(this.readers.map((r) => r.stop()));
  }
}

/** One queue's polling loop. Starts on construction. */
export class QueueReader {
  readonly #config: SqsQueueConfig;
  readonly #deps: SqsDeps;
  readonly #opts: Required<SqsOptions>;
  readonly #seen: RecentIds;
  readonly #client: SQSClient;
  readonly #abort = new AbortController();
  readonly #loop: Promise<void>;
  #url: string | null;
  /** Consecutive failed calls; sets the backoff. */
  #failures = 0;

  constructor(
    config: SqsQueueConfig,
    deps: SqsDeps,
    opts: Required<SqsOptions>,
    seen: RecentIds,
  ) {
    this.#config = config;
    this.#deps = deps;
    this.#opts = opts;
    this.#seen = seen;
    this.#url = /^https?:\/\//.test(config.queue) ? config.queue : null;
    this.#client = new SQSClient({
      region: config.region,
      endpoint: config.endpoint ?? undefined,
      // A copy: the SDK marks the object it is given, and the config is frozen.
      credentials: config.credentials ? { ...config.credentials } : undefined,
      // Our loop retries with its own backoff and one log line per failure.
      maxAttempts: 1,
      // The SDK's default reads the OS release, which needs --allow-sys.
      defaultUserAgentProvider: () => Promise.resolve([["denopubsub", VERSION]]),
    });
    this.#loop = this.#run();
  }

  /** Aborts the pending call, waits for the loop to end, and closes the connections. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
    this.#client.destroy();
  }

  async #run(): Promise<void> {
    const { signal } = this.#abort;
    const queue = this.#config.name;
    while (!signal.aborted) {
      try {
        await this.#receive(signal);
      } catch (err) {
        if (signal.aborted) break;
        this.#failures++;
        const { backoffMs, maxBackoffMs } = this.#opts;
        const delay = Math.min(backoffMs * 2 ** (this.#failures - 1), maxBackoffMs);
        this.#deps.metrics.sqsErrors.inc([queue]);
        log.warn("SQS call failed, retrying", {
          queue,
          error: errorMessage(err) || (err as Error).name,
          retry_in_ms: delay,
        });
        await sleep(delay, signal);
      }
    }
  }

  async #receive(signal: AbortSignal): Promise<void> {
    this.#url ??= await this.#lookUp(signal);
    const response = await this.#client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.#url,
        WaitTimeSeconds: this.#opts.waitSeconds,
        MaxNumberOfMessages: 10,
      }),
      { abortSignal: signal },
    );
    if (this.#failures > 0) {
      log.info("SQS queue reachable again", { queue: this.#config.name });
      this.#failures = 0;
    }
    for (const message of response.Messages ?? []) await this.#handle(message, signal);
  }

  async #lookUp(signal: AbortSignal): Promise<string> {
    const { QueueUrl } = await this.#client.send(
      new GetQueueUrlCommand({ QueueName: this.#config.queue }),
      { abortSignal: signal },
    );
    if (!QueueUrl) throw new Error(`no URL for queue ${this.#config.queue}`);
    log.info("reading SQS queue", { queue: this.#config.name, url: QueueUrl });
    return QueueUrl;
  }

  /**
   * Publishes a message unless its id was seen, then deletes it when `delete` is set. A
   * message whose deletion fails is remembered, so it is not published again when it
   * comes back; its deletion is retried then.
   */
  async #handle(message: Message, signal: AbortSignal): Promise<void> {
    const queue = this.#config.name;
    const id = message.MessageId ?? "";
    if (id && this.#seen.has(id)) {
      this.#deps.metrics.sqsMessages.inc([queue, "duplicate"]);
      log.debug("SQS message skipped as a duplicate", { queue, id });
    } else {
      const result = await this.#publish(message.Body ?? "", id);
      this.#deps.metrics.sqsMessages.inc([queue, result]);
      if (id) this.#seen.add(id);
    }
    if (this.#config.delete && message.ReceiptHandle) {
      await this.#client.send(
        new DeleteMessageCommand({ QueueUrl: this.#url!, ReceiptHandle: message.ReceiptHandle }),
        { abortSignal: signal },
      );
    }
  }

  async #publish(body: string, id: string): Promise<"published" | "rejected"> {
    try {
      const target = parsePublishPath(pathOf(body));
      await this.#deps.publish(target, body).stored;
      log.debug("SQS message published", { queue: this.#config.name, id, path: target.path });
      return "published";
    } catch (err) {
      if (!(err instanceof PayloadError || err instanceof TopicError)) throw err;
      this.#deps.metrics.rejected.inc(["sqs", "bad_body"]);
      log.info("SQS message rejected", { queue: this.#config.name, id, reason: err.message });
      return "rejected";
    }
  }
}

/**
 * The `pubsub_path` of a message body, `/` when absent.
 *
 * @throws {PayloadError} when the body is not a JSON object or `pubsub_path` is not a
 * string.
 */
export function pathOf(body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new PayloadError("body is not valid JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new PayloadError("body is not a JSON object");
  }
  const path = (parsed as Record<string, unknown>)["pubsub_path"];
  if (path === undefined) return "/";
  if (typeof path !== "string") throw new PayloadError("pubsub_path is not a string");
  return path.startsWith("/") ? path : `/${path}`;
}

/** Waits `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
