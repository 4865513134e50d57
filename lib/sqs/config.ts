/**
 * The `sqs:` section of `pubsub.yaml`, as PyPubSub reads it: named queues, each with
 * `queue`, `region`, `delete` and optional `key`/`secret`, plus DenoPubSub's `endpoint`.
 * Kept apart from the SQS reader so that validating a config never loads the AWS SDK.
 *
 * @module
 */

import type { Section } from "../section.ts";
import { log } from "../log.ts";

/** Static credentials (`key` and `secret`). */
export interface SqsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** One queue to read events from. */
export interface SqsQueueConfig {
  /** The entry's name under `sqs:`, used in log lines and metric labels. */
  readonly name: string;
  /** The queue's name (looked up with GetQueueUrl) or its full URL. */
  readonly queue: string;
  readonly region: string;
  /** Delete each message once it is published. */
  readonly delete: boolean;
  /** Null: the AWS SDK's default chain (environment, `~/.aws`, instance role). */
  readonly credentials: SqsCredentials | null;
  /** An SQS-compatible server to use instead of AWS, or null. */
  readonly endpoint: string | null;
}

const KEYS = new Set(["queue", "region", "delete", "key", "secret", "endpoint"]);

/**
 * Validates the `sqs` section: a mapping from names to queue settings. A missing or empty
 * section means no queues.
 *
 * @param sqs the `sqs` section of the config file.
 * @throws {ConfigError} naming the file, the key (`sqs.NAME.KEY`) and the problem.
 */
export function parseSqs(sqs: Section): SqsQueueConfig[] {
  return Object.keys(sqs.raw).map((name) => parseQueue(sqs.section(name), name));
}

function parseQueue(entry: Section, name: string): SqsQueueConfig {
  for (const key of Object.keys(entry.raw)) {
    if (!KEYS.has(key)) {
      log.warn("unknown configuration key ignored", { file: entry.file, key: entry.key(key) });
    }
  }
  const queue = entry.string("queue", "");
  if (!queue) entry.fail("queue", "is required (the queue's name or URL)");
  const region = entry.string("region", "");
  if (!region) entry.fail("region", "is required (e.g. us-east-1)");
  return {
    name,
    queue,
    region,
    delete: entry.bool("delete", false),
    credentials: parseCredentials(entry),
    endpoint: parseEndpoint(entry),
  };
}

function parseCredentials(entry: Section): SqsCredentials | null {
  const accessKeyId = entry.string("key", "");
  const secretAccessKey = entry.string("secret", "");
  if (!accessKeyId && !secretAccessKey) return null;
  if (!accessKeyId) entry.fail("key", "is required when secret is set");
  if (!secretAccessKey) entry.fail("secret", "is required when key is set");
  return { accessKeyId, secretAccessKey };
}

function parseEndpoint(entry: Section): string | null {
  const endpoint = entry.string("endpoint", "");
  if (!endpoint) return null;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    entry.fail("endpoint", `"${endpoint}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    entry.fail("endpoint", `"${endpoint}" must be an http:// or https:// URL`);
  }
  return endpoint;
}
