/**
 * What every request of the client carries: HTTP Basic credentials.
 *
 * @module
 */

/** A user name and password, sent with HTTP Basic auth. */
export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/**
 * The `Authorization` header for `credentials` (UTF-8, as DenoPubSub reads it).
 *
 * @example
 * ```ts
 * import { basicAuth } from "./request.ts";
 * console.assert(basicAuth({ user: "u", password: "p" }) === "Basic dTpw");
 * ```
 */
export function basicAuth(credentials: Credentials): string {
  const bytes = new TextEncoder().encode(`${credentials.user}:${credentials.password}`);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `Basic ${btoa(binary)}`;
}

/** Request headers with `Authorization` added when there are credentials. */
export function withAuth(
  headers: Record<string, string>,
  credentials: Credentials | undefined,
): Record<string, string> {
  return credentials ? { ...headers, Authorization: basicAuth(credentials) } : headers;
}
