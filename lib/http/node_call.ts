/**
 * What every request read from Node's `IncomingMessage` shares, whether it is answered
 * over HTTP (`engine_node.ts`) or upgraded to a WebSocket (`ws_node.ts`): its method,
 * target and headers. Each subclass says how its body is read.
 *
 * @module
 */

import type { IncomingMessage } from "node:http";
import type { Call } from "./engine.ts";
import { pathOf, queryParam, targetLength } from "./request.ts";

/** The head of an `IncomingMessage` as the handler reads it. */
export abstract class IncomingCall implements Call {
  constructor(readonly req: IncomingMessage) {}

  get method(): string {
    return this.req.method ?? "GET";
  }

  /** Node gives the target as sent: usually origin-form (`/a?b`), absolute-form for proxies. */
  get path(): string {
    return pathOf(this.req.url ?? "/");
  }

  get targetLength(): number {
    return targetLength(this.req.url ?? "/");
  }

  header(name: string): string | null {
    const value = this.req.headers[name];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(", ") : value;
  }

  query(name: string): string | null {
    return queryParam(this.req.url ?? "/", name);
  }

  abstract body(limit: number): Promise<Uint8Array>;
}
