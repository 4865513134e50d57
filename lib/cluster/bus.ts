/**
 * The bus contract. With several nodes, an accepted event does not go straight to the
 * local hub: it goes to a bus that puts every node's events in one order and hands each
 * to every node's hub in that order. The server uses a bus when one is attached, and
 * delivers in process otherwise (the embedded mode). `redis_bus.ts` implements it over a
 * Redis stream; the app picks it from the `cluster` section.
 *
 * @module
 */

import type { PublishTarget } from "../core/event.ts";

/** The bus cannot do what was asked now; the client may retry after `retryAfter` s. */
export class BusError extends Error {
  override name = "BusError";

  constructor(message: string, readonly retryAfter: number) {
    super(message);
  }
}

/** One order of events shared by several nodes. */
export interface Bus {
  /** This node's id, as its log lines and its Redis connections name it. */
  readonly node: string;
  /** False while the bus cannot take or deliver events (for `/readyz`). */
  readonly connected: boolean;
  /**
   * Appends an event whose body has been checked. Resolves once the bus has it: every
   * node will deliver it, this one included, in the bus's order.
   *
   * @throws {BusError} when the bus cannot take it now; then no node delivers it, unless
   * the bus took it but its answer was lost (the message says so).
   */
  publish(target: PublishTarget, body: string): Promise<void>;
  /**
   * Resolves once this node has delivered every event up to `cursor` to its hub and
   * history, so a replay after `cursor` followed by live events has no gap and no
   * duplicate. Resolves at once for a cursor the bus never had.
   *
   * @throws {BusError} when this node cannot catch up now (it cannot reach the bus).
   */
  reach(cursor: string): Promise<void>;
  /** Stops reading and closes the connections. */
  close(): Promise<void>;
}
