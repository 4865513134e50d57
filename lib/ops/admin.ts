/**
 * The admin listener: `/metrics`, `/healthz` and `/readyz` on their own address, because
 * every path on the main port is a topic. Loopback by default, off unless `admin.port` is
 * set.
 *
 * Folder `lib/ops/`: what operators watch: this listener and the metrics (`metrics.ts`).
 *
 * @module
 */

import type { AdminConfig } from "../config.ts";
import { errorMessage, log } from "../log.ts";
import type { MetricsRegistry } from "./metrics.ts";
import { VERSION } from "../version.ts";

/** The content type of the Prometheus text exposition format. */
export const METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A readiness condition: true when the service can do that part of its work. */
export type ReadinessCheck = () => boolean | Promise<boolean>;

/**
 * Named readiness conditions, all of which must hold for `/readyz` to answer 200. The app
 * adds "listeners"; history storage adds its own (e.g. "storage writable").
 *
 * @example
 * ```ts
 * import { Readiness } from "./admin.ts";
 * const readiness = new Readiness();
 * readiness.set("listeners", () => false);
 * console.assert((await readiness.failing())[0] === "listeners");
 * ```
 */
export class Readiness {
  readonly #checks = new Map<string, ReadinessCheck>();

  /** Adds a check, or replaces the one of the same name. */
  set(name: string, check: ReadinessCheck): void {
    this.#checks.set(name, check);
  }

  /** Removes a check. */
  delete(name: string): void {
    this.#checks.delete(name);
  }

  /** The names of the checks that do not hold now; a check that throws does not hold. */
  async failing(): Promise<string[]> {
    const results = await Promise.all(
      [...this.#checks].map(async ([name, check]) => {
        try {
          return (await check()) ? null : name;
        } catch (err) {
          log.warn("readiness check failed", { check: name, error: errorMessage(err) });
          return name;
        }
      }),
    );
    return results.filter((name) => name !== null);
  }
}

/** What the admin listener serves. */
export interface AdminSources {
  readonly metrics: MetricsRegistry;
  readonly readiness: Readiness;
}

/**
 * Answers one admin request: `GET /metrics`, `GET /healthz`, `GET /readyz` (and `HEAD` of
 * each); everything else is 404.
 */
export async function handleAdmin(req: Request, sources: AdminSources): Promise<Response> {
  const path = new URL(req.url).pathname;
  if (req.method !== "GET" && req.method !== "HEAD") return text("not found\n", 404);
  switch (path) {
    case "/metrics":
      return new Response(sources.metrics.render(), {
        headers: { "Content-Type": METRICS_TYPE, "Cache-Control": "no-store" },
      });
    case "/healthz":
      return text("ok\n", 200);
    case "/readyz": {
      const failing = await sources.readiness.failing();
      if (failing.length === 0) return text("ready\n", 200);
      return text(`not ready: ${failing.join(", ")}\n`, 503);
    }
    default:
      return text("not found\n", 404);
  }
}

function text(body: string, status: number): Response {
  return new Response(body, {
    status,
    headers: {
      "Content-Type": "text/plain; charset=utf-8",
      "Cache-Control": "no-store",
      "Server": `DenoPubSub/${VERSION}`,
    },
  });
}

/**
 * The admin HTTP listener.
 *
 * @example
 * ```ts ignore
 * import { AdminServer, Readiness } from "./admin.ts";
 * const admin = AdminServer.listen({ bind: "127.0.0.1", port: 0 }, { metrics, readiness });
 * console.log(admin.port);
 * await admin.close();
 * ```
 */
export class AdminServer {
  private constructor(readonly server: Deno.HttpServer<Deno.NetAddr>) {}

  /**
   * Starts listening on `config.bind`, `config.port`.
   *
   * @throws {Error} with one line naming the address when the port cannot be bound.
   */
  static listen(config: AdminConfig & { port: number }, sources: AdminSources): AdminServer {
    try {
      const server = Deno.serve({
        hostname: config.bind,
        port: config.port,
        onListen: ({ hostname, port }) =>
          log.info("listening for admin", { address: hostname, port }),
        onError: (err) => {
          log.error("admin request failed", { error: errorMessage(err) });
          return text("internal error\n", 500);
        },
      }, (req) => handleAdmin(req, sources));
      return new AdminServer(server);
    } catch (err) {
      throw new Error(
        `cannot listen for admin on ${config.bind} port ${config.port}: ${errorMessage(err)}`,
      );
    }
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return this.server.addr.port;
  }

  /** Stops the listener. */
  async close(): Promise<void> {
    await this.server.shutdown();
  }
}
