/**
 * The one error type a request handler throws to answer with a status and a reason.
 *
 * @module
 */

/**
 * An expected failure of a request: answered with `status` and the one-line `message`,
 * logged at info level at most, never with a stack trace.
 *
 * @example
 * ```ts
 * import { HttpError } from "./error.ts";
 * const err = new HttpError(403, "not allowed to publish from 192.0.2.1");
 * console.assert(err.status === 403);
 * ```
 */
export class HttpError extends Error {
  override name = "HttpError";

  constructor(
    readonly status: number,
    message: string,
    /** Extra response headers, e.g. `WWW-Authenticate` on a 401. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
