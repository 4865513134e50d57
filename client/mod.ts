/**
 * A client for DenoPubSub (and PyPubSub) that never misses an event: {@link subscribe}
 * reconnects forever and resumes after the last event it yielded; {@link publish}
 * retries while the server is unreachable or busy. It uses only `fetch` and streams, so
 * it runs in Deno and in browsers.
 *
 * ```ts ignore
 * import { AuthError, publish, subscribe } from "@denopubsub/server/client";
 *
 * await publish("http://localhost:2069/git/myrepo", { commit: "abc123" });
 *
 * const stop = new AbortController();
 * const events = subscribe("http://localhost:2069/git", {
 *   cursor: localStorage.getItem("cursor") ?? undefined,
 *   signal: stop.signal,
 *   onState: (state) => {
 *     if (state.type === "truncated" || state.type === "cursor-unknown") {
 *       console.warn("events may have been missed:", state);
 *     }
 *   },
 * });
 * try {
 *   for await (const event of events) {
 *     console.log(event.pubsub_topics, event);
 *     localStorage.setItem("cursor", event.pubsub_cursor!);
 *   }
 * } catch (err) {
 *   if (err instanceof AuthError) console.error("refused:", err.status, err.reason);
 * }
 * ```
 *
 * @module
 */

export {
  type PubSubEvent,
  type ReceivedLine,
  subscribe,
  subscribeLines,
  type SubscribeOptions,
  type SubscriptionState,
} from "./subscribe.ts";
export { publish, type PublishOptions } from "./publish.ts";
export { AuthError, RefusedError, UnreachableError } from "./errors.ts";
export type { Credentials } from "./request.ts";
export type { CursorNotice } from "./position.ts";
export type { Failure } from "./connection.ts";
export type { BackoffOptions } from "./backoff.ts";
