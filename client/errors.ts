/**
 * The errors the client throws: a refusal by the server (with its status and one-line
 * reason), a refusal of the credentials, and a server that could not be reached.
 *
 * @module
 */

/**
 * The server answered a request with a status that retrying will not change: `status` is
 * the HTTP status and `reason` the server's one-line explanation.
 *
 * @example
 * ```ts
 * import { RefusedError } from "./errors.ts";
 * const err = new RefusedError(400, "body is not one JSON object");
 * console.assert(err.message === "400 body is not one JSON object");
 * ```
 */
export class RefusedError extends Error {
  override name = "RefusedError";

  constructor(readonly status: number, readonly reason: string) {
    super(`${status} ${reason}`);
  }
}

/**
 * The server refused the credentials (401) or the request with them (403). A subscription
 * ends with this error instead of reconnecting: trying again cannot succeed.
 *
 * @example
 * ```ts
 * import { AuthError, RefusedError } from "./errors.ts";
 * const err = new AuthError(401, "wrong user name or password");
 * console.assert(err instanceof RefusedError && err.status === 401);
 * ```
 */
export class AuthError extends RefusedError {
  override name = "AuthError";
}

/**
 * The server could not be reached before the retries ran out. `cause` holds the last
 * network error.
 *
 * @example
 * ```ts
 * import { UnreachableError } from "./errors.ts";
 * const err = new UnreachableError("http://127.0.0.1:1/t", 3, new TypeError("refused"));
 * console.assert(err.attempts === 3);
 * ```
 */
export class UnreachableError extends Error {
  override name = "UnreachableError";

  constructor(readonly url: string, readonly attempts: number, cause: unknown) {
    super(`${url}: no answer after ${attempts} attempts: ${describe(cause)}`, { cause });
  }
}

/** The typed error for a refusal: {@link AuthError} for 401 and 403. */
export function refusal(status: number, reason: string): RefusedError {
  return status === 401 || status === 403
    ? new AuthError(status, reason)
    : new RefusedError(status, reason);
}

/**
 * The server's one-line reason for a refusal: the first line of a plain-text body (what
 * DenoPubSub and PyPubSub send), else the status text (a proxy's HTML page says nothing a
 * line could hold). Consumes the body.
 */
export async function reasonOf(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  const type = res.headers.get("content-type") ?? "text/plain";
  const line = type.startsWith("text/plain") ? text.trim().split("\n", 1)[0]!.trim() : "";
  return (line || res.statusText || "no reason given").slice(0, 300);
}

/** One line describing a failure and its cause (fetch's own message says little). */
export function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const line = err.message.split("\n", 1)[0]!;
  return err.cause instanceof Error ? `${line}: ${describe(err.cause)}` : line;
}
