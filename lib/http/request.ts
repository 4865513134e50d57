/**
 * Reading what a request carries, whatever the engine: its path and HTTP Basic
 * credentials; and the 413 answer engines give a body past the cap. Each
 * failure is an {@link HttpError} with a one-line reason.
 *
 * @module
 */

import { HttpError } from "./error.ts";

/**
 * The path of a request URL or target (origin-form `/a?b` or absolute-form), without
 * query string, still percent-encoded.
 *
 * @example
 * ```ts
 * import { pathOf } from "./request.ts";
 * console.assert(pathOf("http://h:1/a/b?x=1") === "/a/b");
 * console.assert(pathOf("/a/b?x=1") === "/a/b");
 * ```
 */
export function pathOf(url: string): string {
  const start = targetStart(url);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}

/**
 * A parameter of the query string of a request URL or target, decoded; null when absent.
 *
 * @example
 * ```ts
 * import { queryParam } from "./request.ts";
 * console.assert(queryParam("/a?cursor=x%2Dy", "cursor") === "x-y");
 * console.assert(queryParam("/a", "cursor") === null);
 * ```
 */
export function queryParam(url: string, name: string): string | null {
  const query = url.indexOf("?");
  if (query < 0) return null;
  const hash = url.indexOf("#", query);
  return new URLSearchParams(url.slice(query + 1, hash < 0 ? undefined : hash)).get(name);
}

/**
 * The length of the request target (path and query) of a request URL or target.
 *
 * @example
 * ```ts
 * import { targetLength } from "./request.ts";
 * console.assert(targetLength("http://h:1/a/b?x=1") === 8);
 * ```
 */
export function targetLength(url: string): number {
  const start = targetStart(url);
  return start < 0 ? 1 : url.length - start;
}

/** Where the target starts: 0 in origin-form, after scheme and host in absolute-form. */
function targetStart(url: string): number {
  return url.startsWith("/") ? 0 : url.indexOf("/", url.indexOf("//") + 2);
}

/** The 413 answer for a body past `limit` bytes. */
export function tooLarge(limit: number): HttpError {
  return new HttpError(413, `payload larger than the limit of ${limit} bytes`);
}

/** A user name and password from an `Authorization: Basic` header. */
export interface Credentials {
  user: string;
  password: string;
}

/** The 401 answer, with the challenge clients expect. */
export function unauthorized(reason: string): HttpError {
  return new HttpError(401, reason, { "WWW-Authenticate": 'Basic realm="DenoPubSub"' });
}

/**
 * Parses an `Authorization` header. The password may contain colons.
 *
 * @param header the header's value, or null when the request has none.
 * @returns the credentials, or null when the request carries none.
 * @throws {HttpError} 401 when the header is present but malformed.
 */
export function basicCredentials(header: string | null): Credentials | null {
  if (header === null) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) throw unauthorized("Authorization header is not HTTP Basic credentials");
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(m[1]!), (c) => c.charCodeAt(0)),
    );
  } catch {
    throw unauthorized("Authorization header is not valid base64 UTF-8");
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) throw unauthorized("Authorization credentials lack a ':' separator");
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
