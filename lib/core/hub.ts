/**
 * The hub: who is subscribed to what, and delivery of each event to every matching
 * subscriber. It knows subscribers and events, never HTTP.
 *
 * Folder `lib/core/`: the domain itself, free of HTTP and storage: topics and the topic
 * trie (`topics.ts`), the event envelope and its wire encodings (`event.ts`), the
 * subscriber sink (`subscriber.ts`) and this hub, which joins them.
 *
 * @module
 */

import { mayRead } from "../auth/acl.ts";
import type { Event } from "./event.ts";
import { log, logEnabled } from "../log.ts";
import { ServiceMetrics } from "../ops/metrics.ts";
import type { CloseReason, Subscriber } from "./subscriber.ts";
import { coveredBy, TopicTrie, toTopicSet } from "./topics.ts";

/** Keepalive pings are sent in this many slices spread over the interval. */
const PING_SLICES = 10;

/** The metrics the hub counts: deliveries, bytes enqueued, slow subscribers evicted. */
export type HubMetrics = Pick<ServiceMetrics, "delivered" | "bytesSent" | "evictedSlow">;

/**
 * Subscribe, unsubscribe, publish. Publishing is synchronous: an event reaches every
 * subscriber registered when `publish` is called, and nothing can join or leave halfway.
 *
 * @example
 * ```ts
 * import { Hub } from "./hub.ts";
 * const hub = new Hub({ keepalive: 5 });
 * console.assert(hub.size === 0);
 * hub.close();
 * ```
 */
export class Hub {
  readonly #trie = new TopicTrie<Subscriber>();
  readonly #subscribers = new Set<Subscriber>();
  readonly #timer: ReturnType<typeof setInterval>;
  #tick = 0;
  #pingCycle: Iterator<Subscriber> = [].values();
  #pingSlice = 0;
  #delivery = 0;
  /** The publish under way; one object for all, so a publish allocates no closure. */
  readonly #fanout = new Fanout();
  readonly metrics: HubMetrics;

  /**
   * @param opts.keepalive seconds between `{"stillalive": …}` lines on every stream.
   * @param opts.metrics where deliveries are counted (a private set when omitted).
   */
  constructor(opts: { keepalive: number; metrics?: HubMetrics }) {
    this.metrics = opts.metrics ?? new ServiceMetrics();
    this.#timer = setInterval(() => this.#ping(), (opts.keepalive * 1000) / PING_SLICES);
  }

  /** Subscribers connected now. */
  get size(): number {
    return this.#subscribers.size;
  }

  /**
   * Sends a subscriber a first keepalive line and the replayed events it may see, then
   * registers it for live events, all in one synchronous step.
   *
   * @param replay retained events, oldest first; filtered here by topics and ACL.
   */
  subscribe(sub: Subscriber, replay: readonly Event[] = []): void {
    const hello = sub.framing.keepalive(Date.now() / 1000);
    let bytes = sub.send(hello) ? hello.byteLength : 0;
    for (const event of replay) {
      if (wants(sub, event)) bytes += sub.sendReplayed(event);
    }
    this.metrics.bytesSent.inc(bytes);
    this.#subscribers.add(sub);
    for (const set of sub.topicSets) this.#trie.add(set, sub);
    if (logEnabled("debug")) {
      const topics = sub.topicSets.map((s) => s.join("/")).join(",");
      log.debug("subscribed", { id: sub.id, topics, replayed: replay.length });
    }
  }

  /** Removes a subscriber; called by the subscriber when its stream ends. */
  unsubscribe(sub: Subscriber, reason: CloseReason): void {
    if (!this.#subscribers.delete(sub)) return;
    for (const set of sub.topicSets) this.#trie.delete(set, sub);
    if (reason === "slow") {
      this.metrics.evictedSlow.inc();
      log.info("subscriber too slow, disconnected", { id: sub.id, user: sub.principal?.user });
    } else {
      log.debug("unsubscribed", { id: sub.id, reason });
    }
  }

  /**
   * Delivers an event to every subscriber with a matching topic set (and, for a private
   * event, an ACL segment that covers it). The event's bytes are shared, not copied, and
   * counted once per event: deliveries times the line length.
   */
  publish(event: Event): void {
    const fanout = this.#fanout;
    fanout.start(event, ++this.#delivery);
    this.#trie.match(toTopicSet(event.topics), deliver, fanout);
    this.metrics.delivered.inc(fanout.sent);
    this.metrics.bytesSent.inc(fanout.bytes);
    fanout.start(null, 0);
  }

  /** Calls `fn` for every subscriber, e.g. to re-evaluate principals after a reload. */
  forEach(fn: (sub: Subscriber) => void): void {
    for (const sub of [...this.#subscribers]) fn(sub);
  }

  /** Ends every stream and the keepalive timer. */
  close(): void {
    clearInterval(this.#timer);
    for (const sub of [...this.#subscribers]) sub.close("shutdown");
  }

  /**
   * Pings one slice of the subscribers; every subscriber is pinged once per keepalive
   * interval. Spreading the pings keeps a burst of thousands of writes from delaying the
   * events published meanwhile.
   */
  #ping(): void {
    if (this.#tick++ % PING_SLICES === 0) {
      this.#pingCycle = this.#subscribers.values();
      this.#pingSlice = Math.ceil(this.#subscribers.size / PING_SLICES);
    }
    const now = Date.now() / 1000;
    let bytes = 0;
    for (let n = 0; n < this.#pingSlice; n++) {
      const next = this.#pingCycle.next();
      if (next.done) break;
      const sub = next.value;
      const frame = sub.framing.keepalive(now);
      if (sub.send(frame)) bytes += frame.byteLength;
    }
    this.metrics.bytesSent.inc(bytes);
  }
}

/** What one publish has to know and count while the trie hands it subscribers. */
class Fanout {
  event: Event | null = null;
  delivery = 0;
  /** The event's topics, when it is private and each subscriber's ACL must cover them. */
  topicSet: ReadonlySet<string> | null = null;
  sent = 0;
  /** Bytes enqueued: each subscriber's framing of the event has its own length. */
  bytes = 0;

  /** Begins a publish (or, with null, lets go of the last event). */
  start(event: Event | null, delivery: number): void {
    this.event = event;
    this.delivery = delivery;
    this.topicSet = event?.private ? event.topicSet : null;
    this.sent = 0;
    this.bytes = 0;
  }
}

/** Sends the publish under way to `sub`, once per event whatever sets of its matched. */
function deliver(sub: Subscriber, fanout: Fanout): void {
  if (sub.lastDelivery === fanout.delivery) return;
  sub.lastDelivery = fanout.delivery;
  if (fanout.topicSet && !mayRead(sub.principal, fanout.topicSet)) return;
  // The framing hands out the event's bytes built once, shared with every subscriber.
  const frame = sub.framing.event(fanout.event!);
  if (sub.send(frame)) {
    fanout.sent++;
    fanout.bytes += frame.byteLength;
  }
}

/** True when one of the subscriber's sets is covered and, if private, its ACL allows it. */
function wants(sub: Subscriber, event: Event): boolean {
  const has = event.topicSet;
  if (!sub.topicSets.some((set) => coveredBy(set, has))) return false;
  return !event.private || mayRead(sub.principal, has);
}
