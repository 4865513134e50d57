/**
 * Helpers for the cluster tests: config patches for a node of a throwaway Redis, node
 * processes started together, and reading a known number of events.
 */

import type { EngineName } from "../lib/config.ts";
import { type ConfigPatch, type Line, StreamClient, writeFiles } from "./helpers.ts";
import { type NodeProcess, spawnNode } from "./fixtures/node_process.ts";
import type { TestRedis } from "./fixtures/redis.ts";

/** A node of `redis` keeping `size` events, on engine `engine`, plus `extra`. */
export function clusterPatch(
  redis: TestRedis,
  engine: EngineName,
  extra: ConfigPatch = {},
  size = 1000,
): ConfigPatch {
  const server = { engine, backlog: { size }, ...(extra.server as object | undefined) };
  return { ...extra, server, cluster: { redis: redis.url } };
}

/** Node processes started together; `stop` stops those still running and removes files. */
export interface ProcessCluster {
  readonly nodes: NodeProcess[];
  stop(): Promise<void>;
}

/** Starts one node process per patch, in parallel. */
export async function spawnCluster(patches: ConfigPatch[]): Promise<ProcessCluster> {
  const files = await Promise.all(patches.map((patch) => writeFiles(patch)));
  const started = await Promise.allSettled(files.map((f) => spawnNode(f.config)));
  const nodes = started.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    await Promise.all(files.map((f) => f.cleanup()));
  };
  const failed = started.find((r) => r.status === "rejected");
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { nodes, stop };
}

/** Reads `count` events (keepalives skipped), each within `timeoutMs`. */
export async function readEvents(
  stream: StreamClient,
  count: number,
  timeoutMs = 5000,
): Promise<Line[]> {
  const lines: Line[] = [];
  while (lines.length < count) lines.push(await stream.next(timeoutMs));
  return lines;
}

/** Polls `url` until it answers `status`, for up to `timeoutMs`. */
export async function untilStatus(url: string, status: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    const res = await fetch(url);
    await res.body?.cancel();
    last = res.status;
    if (last === status) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} answered ${last}, not ${status}, for ${timeoutMs} ms`);
}
