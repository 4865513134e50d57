/**
 * The `clients.ldap` section of `pubsub.yaml`, validated into a frozen {@link LdapConfig}.
 *
 * PyPubSub's keys work unchanged:
 *
 * ```yaml
 * clients:
 *   ldap:
 *     uri: ldaps://ldap.example.org          # several, space-separated, are tried in order
 *     user_dn: uid=%s,ou=people,dc=example,dc=org
 *     base_scope: dc=example,dc=org
 *     membership_patterns:
 *       - member=uid=%s,ou=people,dc=example,dc=org
 *       - uid=%s
 *     acl:
 *       "cn=syadmins,ou=teams,dc=example,dc=org":   # a list: one segment named by the DN
 *         - accounts
 *         - restricted
 *       uid=janedoe,ou=people,dc=example,dc=org:    # a mapping: named segments
 *         contracts: [contracts]
 *         hr: [hr]
 *     # new keys, all optional:
 *     timeout: 3        # seconds for the whole lookup (connect, TLS, bind, searches)
 *     cache_ttl: 60     # seconds a successful lookup is reused; 0 turns the cache off
 *     failure_ttl: 2    # seconds a wrong password is remembered (at most 10)
 *     ca_file: /etc/ssl/ldap-ca.pem   # CA certificates for ldaps:// and StartTLS
 *     starttls: false   # upgrade an ldap:// connection with StartTLS before binding
 * ```
 *
 * A membership pattern may also be written as a one-key mapping with no value
 * (`- member=uid=%s,...:`), which is how YAML reads a pattern ending in a colon, as in
 * PyPubSub's sample file.
 *
 * @module
 */

import { FilterParser } from "ldapts";
import { fillFilterPattern, normalizeDn, patternProblem } from "./ldap_escape.ts";
import { errorMessage } from "../log.ts";

/** Topics of one ACL segment, by segment name. */
export type Segments = Readonly<Record<string, readonly string[]>>;

/** One `clients.ldap.acl` entry: a group or user DN and the segments it grants. */
export interface LdapAclEntry {
  /** The DN as written in the configuration. */
  readonly dn: string;
  /** The DN in canonical form ({@link normalizeDn}), compared with the DNs found. */
  readonly key: string;
  readonly segments: Segments;
}

/** Validated LDAP settings. Durations are in milliseconds. */
export interface LdapConfig {
  /** One or more `ldap://` or `ldaps://` URLs, tried in order when one cannot be reached. */
  readonly uris: readonly string[];
  /** Bind DN pattern with `%s` for the user name. */
  readonly userDn: string;
  /** Search base for the membership patterns. */
  readonly baseScope: string;
  /** Filter patterns with `%s` for the user name. */
  readonly membershipPatterns: readonly string[];
  readonly acl: readonly LdapAclEntry[];
  readonly timeoutMs: number;
  readonly cacheTtlMs: number;
  readonly failureTtlMs: number;
  /** Path of the CA file, when set. */
  readonly caFile?: string;
  /** PEM text of the CA file, read at validation time. */
  readonly ca?: string;
  readonly starttls: boolean;
}

/** Defaults of the new keys, in seconds. */
export const LDAP_DEFAULTS = Object.freeze({ timeout: 3, cache_ttl: 60, failure_ttl: 2 });

const MAX_FAILURE_TTL = 10;
const MAX_TIMEOUT = 60;
const MAX_CACHE_TTL = 86400;

const KNOWN_KEYS = [
  "uri",
  "user_dn",
  "base_scope",
  "membership_patterns",
  "acl",
  "timeout",
  "cache_ttl",
  "failure_ttl",
  "ca_file",
  "starttls",
];

const PREFIX = "clients.ldap";

/**
 * Validates the value of `clients.ldap` and returns frozen settings, or throws an Error
 * whose one-line message names the file, the key and the problem, such as
 * `pubsub.yaml: clients.ldap.uri: must be an ldap:// or ldaps:// URL, got "http://x"`.
 * The CA file, when given, is read here so that a bad path is a configuration error.
 *
 * @param raw the parsed YAML value of `clients.ldap`
 * @param file the configuration file name, for messages
 *
 * @example
 * ```ts
 * import { parseLdapConfig } from "./ldap_config.ts";
 * const config = parseLdapConfig({
 *   uri: "ldap://127.0.0.1:3890",
 *   user_dn: "uid=%s,ou=people,dc=example,dc=org",
 *   base_scope: "dc=example,dc=org",
 *   membership_patterns: ["member=uid=%s,ou=people,dc=example,dc=org"],
 *   acl: { "cn=ops,ou=groups,dc=example,dc=org": ["ops"] },
 * }, "pubsub.yaml");
 * ```
 */
export function parseLdapConfig(raw: unknown, file: string): LdapConfig {
  const fail = (key: string, problem: string): never => {
    throw new Error(`${file}: ${PREFIX}${key ? "." + key : ""}: ${problem}`);
  };
  if (!isMapping(raw)) return fail("", `must be a mapping, got ${describe(raw)}`);
  for (const key of Object.keys(raw)) {
    if (!KNOWN_KEYS.includes(key)) {
      fail(key, `unknown key (known: ${KNOWN_KEYS.join(", ")})`);
    }
  }
  const uris = parseUris(raw.uri, fail);
  const starttls = parseBoolean(raw.starttls, "starttls", fail);
  if (starttls && uris.some((u) => u.startsWith("ldaps:"))) {
    fail("starttls", "cannot be used with an ldaps:// URL (the connection is already TLS)");
  }
  const ca = parseCaFile(raw.ca_file, fail);
  if (ca && !starttls && uris.some((u) => u.startsWith("ldap:"))) {
    fail("ca_file", "is used only with ldaps:// or starttls: true");
  }
  return Object.freeze({
    uris,
    userDn: parseUserDn(raw.user_dn, fail),
    baseScope: parseString(raw.base_scope, "base_scope", fail),
    membershipPatterns: parsePatterns(raw.membership_patterns, fail),
    acl: parseAcl(raw.acl, fail),
    timeoutMs: parseSeconds(raw.timeout, "timeout", {
      fallback: LDAP_DEFAULTS.timeout,
      max: MAX_TIMEOUT,
      positive: true,
    }, fail),
    cacheTtlMs: parseSeconds(
      raw.cache_ttl,
      "cache_ttl",
      { fallback: LDAP_DEFAULTS.cache_ttl, max: MAX_CACHE_TTL },
      fail,
    ),
    failureTtlMs: parseSeconds(raw.failure_ttl, "failure_ttl", {
      fallback: LDAP_DEFAULTS.failure_ttl,
      max: MAX_FAILURE_TTL,
    }, fail),
    starttls,
    ...(ca ? { caFile: ca.path, ca: ca.pem } : {}),
  });
}

type Fail = (key: string, problem: string) => never;

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `${typeof value} ${JSON.stringify(value)}`;
}

function parseString(value: unknown, key: string, fail: Fail): string {
  if (typeof value !== "string" || value.trim() === "") {
    return fail(key, `must be a non-empty string, got ${describe(value)}`);
  }
  return value.trim();
}

function parseUris(value: unknown, fail: Fail): readonly string[] {
  const list = Array.isArray(value) ? value : [value];
  const uris = list.flatMap((v) => typeof v === "string" ? v.split(/[\s,]+/).filter(Boolean) : [v]);
  if (uris.length === 0) fail("uri", "must be an ldap:// or ldaps:// URL, got nothing");
  for (const uri of uris) {
    if (typeof uri !== "string" || !/^ldaps?:\/\/[^/?#\s]+\/?$/i.test(uri) || !URL.canParse(uri)) {
      fail("uri", `must be an ldap:// or ldaps:// URL, got ${describe(uri)}`);
    }
  }
  return Object.freeze(uris.map((u) => (u as string).replace(/\/$/, "").toLowerCase()));
}

function parseUserDn(value: unknown, fail: Fail): string {
  const pattern = parseString(value, "user_dn", fail);
  const problem = patternProblem(pattern);
  if (problem) fail("user_dn", problem);
  return pattern;
}

function parsePatterns(value: unknown, fail: Fail): readonly string[] {
  if (value === undefined || value === null) return Object.freeze([]);
  if (!Array.isArray(value)) {
    return fail("membership_patterns", `must be a list of filter patterns, got ${describe(value)}`);
  }
  return Object.freeze(
    value.map((item, i) => parsePattern(item, `membership_patterns[${i}]`, fail)),
  );
}

function parsePattern(item: unknown, key: string, fail: Fail): string {
  const pattern = colonKey(item) ?? item;
  if (typeof pattern !== "string" || pattern.trim() === "") {
    return fail(key, `must be a filter pattern such as "uid=%s", got ${describe(item)}`);
  }
  const problem = patternProblem(pattern);
  if (problem) fail(key, problem);
  try {
    FilterParser.parseString(fillFilterPattern(pattern, "user"));
  } catch (err) {
    fail(key, `is not a valid LDAP filter: ${JSON.stringify(pattern)} (${errorMessage(err)})`);
  }
  return pattern.trim();
}

/** The key of `{ "pattern": null }`, which is what YAML makes of `- pattern:`. */
function colonKey(item: unknown): string | undefined {
  if (!isMapping(item)) return undefined;
  const entries = Object.entries(item);
  if (entries.length !== 1 || entries[0]?.[1] !== null) return undefined;
  return entries[0][0];
}

function parseAcl(value: unknown, fail: Fail): readonly LdapAclEntry[] {
  if (!isMapping(value)) {
    return fail("acl", `must be a mapping of group or user DNs to topics, got ${describe(value)}`);
  }
  const seen = new Map<string, string>();
  return Object.freeze(
    Object.entries(value).map(([dn, grant]) => {
      const key = `acl[${JSON.stringify(dn)}]`;
      const canonical = normalizeDn(dn);
      if (!/^[^=,]+=/.test(dn.trim())) {
        fail(key, "the key must be a DN such as cn=ops,dc=example,dc=org");
      }
      const twin = seen.get(canonical);
      if (twin !== undefined) {
        fail(key, `names the same DN as ${JSON.stringify(twin)}`);
      }
      seen.set(canonical, dn);
      return Object.freeze({ dn, key: canonical, segments: parseGrant(dn, grant, key, fail) });
    }),
  );
}

/** A list of topics is one segment named by the DN; a mapping is named segments. */
function parseGrant(dn: string, grant: unknown, key: string, fail: Fail): Segments {
  if (Array.isArray(grant)) return Object.freeze({ [dn]: parseTopics(grant, key, fail) });
  if (!isMapping(grant)) {
    return fail(
      key,
      `must be a list of topics or a mapping of segment names to topics, got ${describe(grant)}`,
    );
  }
  const segments: Record<string, readonly string[]> = {};
  for (const [name, topics] of Object.entries(grant)) {
    const segKey = `${key}.${name}`;
    if (!Array.isArray(topics)) fail(segKey, `must be a list of topics, got ${describe(topics)}`);
    segments[name] = parseTopics(topics as unknown[], segKey, fail);
  }
  return Object.freeze(segments);
}

function parseTopics(list: unknown[], key: string, fail: Fail): readonly string[] {
  return Object.freeze(list.map((topic, i) => {
    if (typeof topic !== "string" || topic === "" || topic.includes("/")) {
      return fail(
        `${key}[${i}]`,
        `must be a topic (a non-empty string without "/"), got ${describe(topic)}`,
      );
    }
    return topic;
  }));
}

interface SecondsRule {
  fallback: number;
  max: number;
  /** Zero is refused (a timeout of 0 would fail every lookup). */
  positive?: boolean;
}

function parseSeconds(value: unknown, key: string, rule: SecondsRule, fail: Fail): number {
  if (value === undefined || value === null) return rule.fallback * 1000;
  const max = rule.max;
  const ok = typeof value === "number" && Number.isFinite(value) && value >= 0 && value <= max;
  if (!ok || (rule.positive && value === 0)) {
    const range = rule.positive ? "more than 0" : "from 0";
    return fail(key, `must be a number of seconds ${range} to ${max}, got ${describe(value)}`);
  }
  return value * 1000;
}

function parseBoolean(value: unknown, key: string, fail: Fail): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== "boolean") return fail(key, `must be true or false, got ${describe(value)}`);
  return value;
}

function parseCaFile(value: unknown, fail: Fail): { path: string; pem: string } | undefined {
  if (value === undefined || value === null) return undefined;
  const path = parseString(value, "ca_file", fail);
  let pem = "";
  try {
    pem = Deno.readTextFileSync(path);
  } catch (err) {
    fail("ca_file", `cannot read ${JSON.stringify(path)}: ${errorMessage(err)}`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    fail("ca_file", `${JSON.stringify(path)} holds no PEM certificate`);
  }
  return { path, pem };
}
