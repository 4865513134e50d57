/**
 * What the runner asks of one load-generator process, and what it answers. Both cross a
 * process boundary as JSON, so they hold only plain data.
 *
 * @module
 */

import type { Transport } from "./transport.ts";

/** One load run against one server. */
export interface LoadSpec {
  port: number;
  /** How the subscribers receive events. */
  transport: Transport;
  /** The server process whose resident memory is read, or null to skip memory. */
  serverPid: number | null;
  /**
   * Processes that do the server's work beside it (a cluster node's Redis): their CPU time
   * counts as the server's.
   */
  helperPids: number[];
  subscribers: number;
  /** Distinct topics; subscriber `i` and event `seq` use topic `i % topics`. */
  topics: number;
  /** Prefix of topic names, unique per run so no server state carries over. */
  topicPrefix: string;
  /** Subscribe and publish paths with `{topic}` in place of the topic name. */
  subscribePath: string;
  publishPath: string;
  /** Extra subscribe request header lines, each ending in `\r\n`. */
  subscribeHeaders: string;
  /** Appended to each event body (a newline for servers that do not add one). */
  bodySuffix: string;
  bodyBytes: number;
  /** Publisher connections; 0 publishes nothing. */
  publishers: number;
  /**
   * Subscribers to the first topic that send their request and never read: stalled
   * clients, opened after the others. Not counted in deliveries.
   */
  slowSubscribers: number;
  /** Events per second, or null for as fast as accepted. */
  rate: number | null;
  durationMs: number;
  maxEvents: number;
  /** At the maximum rate: events per topic allowed in flight (sent, not yet delivered). */
  windowEvents: number;
  /** Pause after opening subscribers before memory is read and publishing starts. */
  settleMs: number;
  /** How long to wait for outstanding deliveries after the last publish. */
  drainMs: number;
  /** How long opening all subscribers may take. */
  openTimeoutMs: number;
}

/** Measurements of one load run. */
export interface LoadResult {
  subscribers: {
    requested: number;
    opened: number;
    failed: number;
    firstError: string | null;
    openMs: number;
    /** Streams the server ended during the run (for instance slow-subscriber eviction). */
    endedEarly: number;
    /** Stalled subscribers open during the run (see {@link LoadSpec.slowSubscribers}). */
    slow: number;
  };
  /** Server resident memory before and after opening the subscribers, or null. */
  memory: { beforeKB: number; afterKB: number; perSubscriberKB: number } | null;
  publish: {
    sent: number;
    accepted: number;
    rejected: number;
    firstError: string | null;
    /** Accepted publishes per second, from first send to last answer. */
    perSecond: number;
  };
  deliveries: {
    expected: number;
    received: number;
    /** Expected minus received; never negative. */
    lost: number;
    /** Deliveries per second, from first send to last delivery. */
    perSecond: number;
    /** Share of expected deliveries that arrived within 1 s of their send, in percent. */
    withinSecondPct: number;
    /** Lines without a timestamp (keepalives). */
    otherLines: number;
  };
  /**
   * CPU use while publishing and draining, in percent of one core: whether the server
   * (or the generator) was the bottleneck, or the machine was busy with something else.
   */
  cpu: {
    serverPct: number;
    generatorPct: number;
    /** Everything else on the machine; high values mean the figures are disturbed. */
    otherPct: number;
    serverSeconds: number;
  } | null;
  /** Publish→deliver latency in ms over every delivery. */
  latency: { count: number; p50: number; p99: number; max: number };
}

/**
 * The path for `topic` from a `{topic}` template. Topic numbers have a fixed width, so all
 * paths of a run have the same length and a request can be restamped in place.
 */
export function topicPath(template: string, prefix: string, topic: number): string {
  return template.replace("{topic}", `${prefix}${String(topic).padStart(6, "0")}`);
}
