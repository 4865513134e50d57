/**
 * The running service: settings loaded from files, the server, reload and shutdown.
 *
 * @module
 */

import { loadAcl } from "./auth/acl.ts";
import type { Bus } from "./cluster/bus.ts";
import type { ClusterConfig } from "./cluster/config.ts";
import { StreamHistory } from "./cluster/stream_history.ts";
import { AdminServer, Readiness } from "./ops/admin.ts";
import { ldapFor, retireLdap } from "./auth/login.ts";
import { type Config, loadConfig } from "./config.ts";
import type { History } from "./history/history.ts";
import { openHistory } from "./history/open.ts";
import { configureLog, errorMessage, log, type LogFields } from "./log.ts";
import { importPyPubSubBacklog, type ImportResult } from "./history/pypubsub_import.ts";
import { PubSubServer, type Settings } from "./http/server.ts";
import type { PublishFn, SqsIngest } from "./sqs/ingest.ts";

/** Where the settings come from. */
export interface AppFiles {
  config: string;
  acl: string;
}

/**
 * Loads both files and starts listening.
 *
 * @throws {ConfigError} when a file is invalid; the message names file, key and problem.
 */
export async function startApp(files: AppFiles): Promise<App> {
  const config = await loadConfig(files.config);
  const acl = await loadAcl(files.acl, config.clients.ldap !== null);
  // A cluster node's history is the stream's, loaded when it joins.
  const streamHistory = config.cluster ? new StreamHistory(config.server.backlog) : null;
  const history = streamHistory ?? await openConfiguredHistory(config);
  const settings = { config, acl, ldap: ldapFor(config.clients.ldap, null) };
  const server = new PubSubServer(settings, history);
  const app = new App(files, server);
  try {
    if (config.cluster && streamHistory) await app.joinCluster(config.cluster, streamHistory);
    await server.listen();
    await app.startServices();
  } catch (err) {
    await app.stop();
    throw err;
  }
  return app;
}

/**
 * Opens the history `server.backlog` describes: disabled, in memory, or on disk.
 *
 * @throws {HistoryError} when the storage file cannot be opened.
 */
export async function openConfiguredHistory(config: Config): Promise<History> {
  const { size, maxAge, storage, sync } = config.server.backlog;
  const history = await openHistory({ size, maxAge, storage: storage ?? undefined, sync });
  if (size > 0) log.info("history", { size, max_age: maxAge, storage: storage ?? "memory" });
  return history;
}

/**
 * Imports a PyPubSub backlog file into the history `server.backlog` configures; it must
 * be stored on disk, or the import would vanish with the process.
 *
 * @throws {Error} with a one-line reason when there is no storage or the file is unreadable.
 */
export async function importBacklog(
  configFile: string,
  backlogFile: string,
): Promise<ImportResult> {
  const config = await loadConfig(configFile);
  const { size, storage } = config.server.backlog;
  if (size === 0 || storage === null) {
    throw new Error(`${configFile}: server.backlog: set size and storage to import a backlog`);
  }
  const history = await openConfiguredHistory(config);
  try {
    return await importPyPubSubBacklog(backlogFile, history);
  } finally {
    await history.close();
  }
}

/** A started service. */
export class App {
  /** What `/readyz` checks; other modules add their conditions. */
  readonly readiness: Readiness = new Readiness();
  /** The admin listener, when `admin.port` is set. */
  admin: AdminServer | null = null;
  /** SQS ingestion, when queues are configured. */
  sqs: SqsIngest | null = null;
  /** The cluster bus, when `cluster` is configured. */
  bus: Bus | null = null;
  #stopped: Promise<boolean> | null = null;
  /** The log context before this node's id was added to it. */
  #logContext: LogFields | null = null;

  constructor(readonly files: AppFiles, readonly server: PubSubServer) {
    this.readiness.set("listeners", () => this.#stopped === null && server.port !== 0);
    this.readiness.set("storage", () => server.history.writable);
  }

  /**
   * Joins the cluster: connects to Redis, loads the retained events into `history`, and
   * lets the bus carry publishes from then on. Every log line names this node. The Redis
   * client is loaded only then, so a service without a cluster never loads it.
   *
   * @throws {Error} with one line naming the Redis URL when Redis cannot be reached.
   */
  async joinCluster(cluster: ClusterConfig, history: StreamHistory): Promise<void> {
    const { startRedisBus } = await import("./cluster/redis_bus.ts");
    const { hub, metrics } = this.server;
    const bus = await startRedisBus(cluster, {
      hub,
      history,
      metrics,
      backlog: this.server.settings.config.server.backlog,
    });
    this.bus = bus;
    this.server.bus = bus;
    this.readiness.set("redis", () => bus.connected);
    this.#logContext = configureLog({ context: { node: bus.node } }).context;
  }

  /**
   * Starts the admin listener and SQS ingestion when configured. The AWS SDK is loaded
   * only then, so a service without queues needs no AWS permissions.
   */
  async startServices(): Promise<void> {
    const { admin, sqs } = this.server.settings.config;
    if (admin.port !== null) {
      const sources = { metrics: this.server.metrics.registry, readiness: this.readiness };
      this.admin = AdminServer.listen({ ...admin, port: admin.port }, sources);
    }
    if (sqs.length > 0) {
      const { SqsIngest } = await import("./sqs/ingest.ts");
      const publish: PublishFn = (target, body) => this.server.publishEvent(target, body);
      this.sqs = new SqsIngest(sqs, { publish, metrics: this.server.metrics });
    }
  }

  /**
   * Re-reads both files (or only the ACL) and swaps them in whole. A file that fails
   * validation is refused with one log line and the running settings stay. LDAP logins
   * are looked up afresh: the cache is cleared, or the authenticator replaced when its
   * settings changed.
   *
   * @returns true when the new settings were applied.
   */
  async reload(what: "all" | "acl" = "all"): Promise<boolean> {
    const current = this.server.settings;
    let next: Settings;
    try {
      const config = what === "all" ? await loadConfig(this.files.config) : current.config;
      const acl = await loadAcl(this.files.acl, config.clients.ldap !== null);
      next = { config, acl, ldap: ldapFor(config.clients.ldap, current.ldap) };
    } catch (err) {
      log.error("reload refused, running settings kept", { error: errorMessage(err) });
      return false;
    }
    if (restartOnlyChanged(current.config, next.config)) {
      log.warn(
        "admin, SQS, backlog or cluster settings changed; they take effect after a restart",
      );
    }
    this.server.reload(next);
    await retireLdap(current.ldap, next.ldap);
    log.info("settings reloaded", { what, users: next.acl.size });
    return true;
  }

  /**
   * Stops reading SQS, ends every stream and stops the listeners, admin last. Calls after
   * the first (a second signal during shutdown) wait for the same stop.
   *
   * @returns false when events accepted while the storage could not be written are not
   * on disk (logged in one line); everything is stopped all the same.
   */
  stop(): Promise<boolean> {
    return this.#stopped ??= this.#stop();
  }

  async #stop(): Promise<boolean> {
    await this.sqs?.stop();
    await this.server.close();
    await this.bus?.close();
    if (this.bus) configureLog({ context: this.#logContext });
    const stored = await this.server.history.close().then(() => true, (err) => {
      log.error("history: events accepted since the storage failed are not on disk", {
        error: errorMessage(err),
      });
      return false;
    });
    await this.server.settings.ldap?.close();
    await this.admin?.close();
    return stored;
  }
}

function restartOnlyChanged(before: Config, after: Config): boolean {
  const fixed = (c: Config) => JSON.stringify([c.admin, c.sqs, c.server.backlog, c.cluster]);
  return fixed(before) !== fixed(after);
}
