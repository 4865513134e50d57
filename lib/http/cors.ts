/**
 * CORS (`server.cors.origins`): which web pages on other origins may read the service.
 * Off unless configured; an allowed origin is named back in `Access-Control-Allow-Origin`
 * and, when listed by name rather than through `"*"`, may send credentials.
 *
 * @module
 */

import type { Section } from "../section.ts";

/** The origins allowed (`server.cors.origins`). */
export interface CorsConfig {
  /** `"*"`: any origin, without credentials. */
  readonly any: boolean;
  /** Origins listed by name (`https://app.example.org`), allowed with credentials. */
  readonly origins: ReadonlySet<string>;
}

/** What a page may send: credentials, a resume point, a body type. */
const ALLOW_HEADERS =
  "Authorization, Last-Event-ID, X-Fetch-Since, X-Fetch-Since-Cursor, Content-Type";
const ALLOW_METHODS = "GET, HEAD, PUT, POST";
/** What a page may read besides the CORS-safelisted headers. */
const EXPOSE_HEADERS =
  "X-Subscribers, X-Requests, X-Newest-Cursor, X-Cursor-Unknown, X-Backlog-Truncated";
const ORIGIN_RE = /^https?:\/\/[^/\s]+$/;

/**
 * Reads `server.cors`: `origins` is `"*"` or a list of origins (`scheme://host[:port]`).
 *
 * @returns null when there is no `server.cors`.
 * @throws {ConfigError} naming the key and the bad value.
 */
export function parseCors(server: Section): CorsConfig | null {
  if (!server.has("cors")) return null;
  const cors = server.section("cors");
  if (cors.raw["origins"] === "*") return { any: true, origins: new Set() };
  const origins = cors.strings("origins");
  if (origins.length === 0) cors.fail("origins", 'must be "*" or a list of origins');
  origins.forEach((origin, i) => {
    if (!ORIGIN_RE.test(origin)) {
      cors.fail(`origins[${i}]`, `"${origin}" is not an origin like https://example.org`);
    }
  });
  return { any: false, origins: new Set(origins) };
}

/**
 * The headers that let the page at `origin` read a response; null for an origin not
 * allowed (or a request without `Origin`), which gets no CORS headers at all.
 *
 * @example
 * ```ts
 * import { corsHeaders } from "./cors.ts";
 * const cors = { any: false, origins: new Set(["https://a.example"]) };
 * console.assert(corsHeaders(cors, "https://a.example")?.["Access-Control-Allow-Credentials"] === "true");
 * console.assert(corsHeaders(cors, "https://b.example") === null);
 * ```
 */
export function corsHeaders(
  cors: CorsConfig,
  origin: string | null,
): Record<string, string> | null {
  if (origin === null) return null;
  const named = cors.origins.has(origin);
  if (!named && !cors.any) return null;
  const headers: Record<string, string> = {
    "Access-Control-Allow-Origin": origin,
    "Access-Control-Expose-Headers": EXPOSE_HEADERS,
  };
  if (named) headers["Access-Control-Allow-Credentials"] = "true";
  return headers;
}

/** The extra headers of a preflight (`OPTIONS`) answer from an allowed origin. */
export function preflightHeaders(): Record<string, string> {
  return {
    "Access-Control-Allow-Methods": ALLOW_METHODS,
    "Access-Control-Allow-Headers": ALLOW_HEADERS,
    "Access-Control-Max-Age": "600",
  };
}
