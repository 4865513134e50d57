/**
 * The `cluster` section of `pubsub.yaml`: the Redis server whose stream every node shares,
 * and the stream's key. Without the section the service runs alone (the embedded mode).
 *
 * @module
 */

import type { Section } from "../section.ts";

/** `cluster`: where the shared stream lives. */
export interface ClusterConfig {
  /** `redis://` or `rediss://` URL, with `user:password@` and `/db` when needed. */
  readonly redis: string;
  /** The stream's key; the event counter is kept beside it under `<stream>:seq`. */
  readonly stream: string;
}

/** The stream key when `cluster.stream` is not set. */
export const DEFAULT_STREAM = "denopubsub";

/**
 * Reads `cluster` from the root of `pubsub.yaml`, or null when it is absent. With a
 * cluster the Redis stream is the history, so `server.backlog.storage` and `sync` (which
 * concern the local history file) are refused rather than silently ignored.
 *
 * @throws {ConfigError} naming the file, the key and the problem.
 * @example
 * ```ts
 * import { Section } from "../section.ts";
 * import { parseCluster } from "./config.ts";
 * const root = Section.of("pubsub.yaml", "", { cluster: { redis: "redis://127.0.0.1:6379/0" } });
 * console.assert(parseCluster(root)?.stream === "denopubsub");
 * ```
 */
export function parseCluster(root: Section): ClusterConfig | null {
  if (!root.has("cluster")) return null;
  const cluster = root.section("cluster");
  if (!cluster.has("redis")) cluster.fail("redis", "is required (a redis:// or rediss:// URL)");
  const redis = cluster.string("redis", "");
  checkRedisUrl(cluster, redis);
  const stream = cluster.string("stream", DEFAULT_STREAM);
  if (stream.trim() === "") cluster.fail("stream", "must not be empty");
  refuseLocalStorage(root.section("server").section("backlog"));
  return { redis, stream };
}

function checkRedisUrl(cluster: Section, text: string): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    cluster.fail("redis", `"${text}" is not a URL (redis://host:port/db)`);
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    cluster.fail("redis", `must start with redis:// or rediss://, got "${url.protocol}//"`);
  }
  if (url.hostname === "") cluster.fail("redis", "names no host");
  if (!/^\/?(\d+)?$/.test(url.pathname)) {
    cluster.fail("redis", `the path must be a database number, got "${url.pathname}"`);
  }
}

function refuseLocalStorage(backlog: Section): void {
  if (backlog.string("storage", "") !== "") {
    backlog.fail(
      "storage",
      "cannot be used with cluster: the Redis stream is the history; " +
        "make it durable with Redis persistence (appendonly yes)",
    );
  }
  if (backlog.bool("sync", false)) {
    backlog.fail(
      "sync",
      "cannot be used with cluster: a publish is answered once Redis has it; " +
        "use appendfsync always in Redis to have it on disk first",
    );
  }
}

/**
 * The Redis URL as it may be logged: any password replaced by `***`.
 *
 * @example
 * ```ts
 * import { redactedUrl } from "./config.ts";
 * console.assert(redactedUrl("redis://u:secret@h:6379/0") === "redis://u:***@h:6379/0");
 * ```
 */
export function redactedUrl(text: string): string {
  const url = new URL(text);
  if (url.password !== "") url.password = "***";
  return url.href;
}
