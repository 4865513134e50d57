/**
 * Connections to Redis (node-redis): made with a bounded wait at start, then kept up by
 * the client, which reconnects with backoff. A lost connection is logged once when it
 * goes and once when it comes back, not at every retry. Commands sent while a connection
 * is down fail at once instead of waiting in a queue, so a publish gets its 503 now.
 *
 * @module
 */

import { createClient } from "redis";
import { errorMessage, log } from "../log.ts";

/** A connected client. */
export type Redis = ReturnType<typeof newClient>;

/** How long start-up waits for Redis before giving up. */
const CONNECT_WAIT_MS = 5000;
/** Reconnect delays double from this, up to {@link RECONNECT_MAX_MS}. */
const RECONNECT_FIRST_MS = 50;
const RECONNECT_MAX_MS = 2000;

/** One connection's purpose and what to tell about it. */
export interface ConnectionOptions {
  readonly url: string;
  /** The URL as logs may show it (no password). */
  readonly shownUrl: string;
  /** `CLIENT SETNAME`, so that `CLIENT LIST` in Redis shows which node holds it. */
  readonly name: string;
  /** Closes the socket after this long without traffic, in ms; undefined: never. */
  readonly idleTimeoutMs?: number;
  /** Called each time the connection is up again after it was lost. */
  readonly onReconnect: () => void;
}

/**
 * Connects to Redis, retrying for up to 5 s.
 *
 * @throws {Error} "cannot reach Redis at URL: why" when it cannot connect in time.
 */
export async function connectRedis(opts: ConnectionOptions): Promise<Redis> {
  let lastError = "no answer";
  let connected = false;
  let up = false;
  const client = newClient(opts);
  client.on("error", (err: unknown) => {
    lastError = errorMessage(err);
    if (!up) return;
    up = false;
    log.warn("Redis connection lost, reconnecting", { connection: opts.name, error: lastError });
  });
  client.on("ready", () => {
    if (up) return;
    up = true;
    if (!connected) return;
    log.info("Redis connection back", { connection: opts.name });
    opts.onReconnect();
  });
  const timer = setTimeout(() => client.destroy(), CONNECT_WAIT_MS);
  try {
    await client.connect();
  } catch {
    throw new Error(`cannot reach Redis at ${opts.shownUrl}: ${lastError}`);
  } finally {
    clearTimeout(timer);
  }
  connected = true;
  return client;
}

function newClient(opts: ConnectionOptions) {
  return createClient({
    url: opts.url,
    name: opts.name,
    disableOfflineQueue: true,
    // Redis Enterprise's maintenance notices: not for a plain Redis, and with them the
    // client reads environment variables the start task does not grant.
    maintNotifications: "disabled",
    socket: {
      connectTimeout: CONNECT_WAIT_MS,
      socketTimeout: opts.idleTimeoutMs,
      reconnectStrategy: (retries: number) =>
        Math.min(RECONNECT_FIRST_MS * 2 ** retries, RECONNECT_MAX_MS),
    },
  });
}
