/**
 * Publishing one event, retried while the server is unreachable or busy.
 *
 * @module
 */

import { Backoff, type BackoffOptions, retryAfterMs, sleep } from "./backoff.ts";
import { reasonOf, refusal, type RefusedError, UnreachableError } from "./errors.ts";
import { type Credentials, withAuth } from "./request.ts";

/** Options of {@link publish}. */
export interface PublishOptions extends BackoffOptions {
  /** HTTP Basic credentials, for secure topics. */
  auth?: Credentials;
  /** Further attempts after the first when the server is unreachable or busy (default 5). */
  retries?: number;
  /** Gives up: the pending attempt or wait ends and `publish` rejects with the reason. */
  signal?: AbortSignal;
}

/**
 * Statuses worth another attempt: the server is busy (503, with `Retry-After` when it
 * knows how long) or a proxy in front of it could not reach it (502, 504).
 */
const RETRIED = new Set([502, 503, 504]);

/**
 * Publishes `event` to the topics of `url` (a `PUT`). A string is sent as it is: JSON
 * text keeps its key order and number literals exactly. Resolves when the server accepted
 * the event (202).
 *
 * Network failures and 502, 503 and 504 answers are retried with jittered exponential
 * backoff, waiting at least what `Retry-After` asks. A retried publish that had reached
 * the server may be delivered twice: delivery is at least once.
 *
 * @throws {AuthError} on 401 or 403.
 * @throws {RefusedError} on any other refusal (its `status` and the server's one-line
 * `reason`), and on a 502, 503 or 504 still answered when the retries ran out.
 * @throws {UnreachableError} when the server could not be reached within the retries.
 * @example
 * ```ts ignore
 * import { publish } from "@denopubsub/server/client";
 * await publish("http://localhost:2069/git/myrepo", { commit: "abc123" });
 * ```
 */
export async function publish(
  url: string | URL,
  event: Readonly<Record<string, unknown>> | string,
  opts: PublishOptions = {},
): Promise<void> {
  const href = String(url);
  const body = typeof event === "string" ? event : JSON.stringify(event);
  // No Content-Type: a cross-origin publish from a page stays a simple request.
  const headers = withAuth({}, opts.auth);
  const retries = Math.max(0, opts.retries ?? 5);
  const backoff = new Backoff(opts);
  for (let attempt = 1;; attempt++) {
    const outcome = await attemptPublish(href, body, headers, opts.signal);
    if (outcome === null) return;
    if (opts.signal?.aborted) throw opts.signal.reason;
    if ("status" in outcome && !RETRIED.has(outcome.error.status)) throw outcome.error;
    if (attempt > retries) {
      throw "status" in outcome
        ? outcome.error
        : new UnreachableError(href, attempt, outcome.error);
    }
    const wait = backoff.after("status" in outcome ? outcome.retryAfterMs : null);
    if (!await sleep(wait, opts.signal)) throw opts.signal!.reason;
  }
}

/** A failed attempt: a refusal (with the wait asked for) or a network error. */
type Outcome =
  | { readonly status: number; readonly error: RefusedError; readonly retryAfterMs: number | null }
  | { readonly error: unknown };

/** One `PUT`: null when accepted, otherwise what went wrong. */
async function attemptPublish(
  url: string,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<Outcome | null> {
  let res: Response;
  try {
    res = await fetch(url, { method: "PUT", body, headers, signal });
  } catch (err) {
    return { error: err };
  }
  if (res.ok) {
    await res.body?.cancel();
    return null;
  }
  const reason = await reasonOf(res);
  return {
    status: res.status,
    error: refusal(res.status, reason),
    retryAfterMs: retryAfterMs(res.headers.get("retry-after")),
  };
}
