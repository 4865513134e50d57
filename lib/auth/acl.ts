/**
 * `pubsub_acl.yaml`: users, their passwords, the segments of private events they may
 * read, and the secure topics they may publish.
 *
 * ```yaml
 * testuser:
 *   password: foobar                       # plaintext (PyPubSub's format), or an scrypt hash
 *   acl:
 *     my_segment: [git, privaterepo.git]   # all of these topics must be on the event
 *   topics: [svn]                          # secure topics this user may publish
 * ```
 *
 * Password checks cost one scrypt run whatever the user and however the password is
 * stored (see `password.ts`). A successful check is reused for a short while, keyed on
 * the user and a keyed hash of the password, so that a client reconnecting in a loop
 * costs one scrypt run rather than one per connection; a wrong one is remembered for a
 * few seconds, so that a client retrying stale credentials costs one run per window.
 *
 * @module
 */

import { createHmac, randomBytes } from "node:crypto";
import { ConfigError, readYaml } from "../section.ts";
import { log } from "../log.ts";
import {
  dummyVerify,
  isPasswordHash,
  PasswordBusyError,
  passwordHashProblem,
  verifyPassword,
} from "./password.ts";
import { coveredBy } from "../core/topics.ts";
import { TtlCache } from "./ttl_cache.ts";

/** An authenticated user and what it may see and publish. */
export interface Principal {
  readonly user: string;
  /** Named segments; a private event is visible when one segment's topics are all on it. */
  readonly segments: ReadonlyMap<string, readonly string[]>;
  /** Secure topics this user may publish. */
  readonly topics: ReadonlySet<string>;
  /**
   * Set for an LDAP login: the user's DN and the group DNs found at login, from which the
   * segments are granted again when the LDAP settings are reloaded.
   */
  readonly ldapDns?: readonly string[];
}

/** The answer to {@link Acl.authenticate}. */
export type AclCheck =
  | { readonly status: "ok"; readonly principal: Principal }
  /** A wrong password or an unknown user. */
  | { readonly status: "denied" }
  /** Too many password checks under way; nothing was checked. */
  | { readonly status: "busy" };

/** Counters, for tests and metrics. */
export interface AclStats {
  /** Password checks run (each one scrypt computation). */
  readonly checks: number;
  /** Answers taken from the cache or from a check of the same credentials under way. */
  readonly cacheHits: number;
  /** Checks refused because too many were under way. */
  readonly busy: number;
}

interface Entry {
  /** The password as stored: plaintext or `scrypt$...`. */
  readonly stored: string;
  readonly principal: Principal;
}

type Outcome = Exclude<AclCheck, { status: "busy" }>;

/** Short, since each entry is a keyed hash of a real password held in memory. */
const SUCCESS_TTL_MS = 30_000;
const FAILURE_TTL_MS = 5_000;
const MAX_CACHE_ENTRIES = 10_000;
const CACHE_SECRET = randomBytes(32);
const DENIED: Outcome = Object.freeze({ status: "denied" });
const BUSY: AclCheck = Object.freeze({ status: "busy" });

/**
 * The loaded ACL file: a frozen snapshot, swapped whole on reload (which also starts a
 * fresh cache of password checks).
 *
 * @example
 * ```ts
 * import { Acl } from "./acl.ts";
 * const acl = Acl.parse({ u: { password: "p", acl: { s: ["a"] } } }, "acl.yaml");
 * const check = await acl.authenticate("u", "p");
 * console.assert(check.status === "ok" && check.principal.user === "u");
 * ```
 */
export class Acl {
  readonly #users: ReadonlyMap<string, Entry>;
  readonly #cache: TtlCache<Outcome>;
  readonly #inflight = new Map<string, Promise<AclCheck>>();
  #checks = 0;
  #cacheHits = 0;
  #busy = 0;

  private constructor(users: Map<string, Entry>, clock: () => number) {
    this.#users = users;
    this.#cache = new TtlCache<Outcome>(MAX_CACHE_ENTRIES, clock);
  }

  /** An ACL with no users: private events then reach nobody. */
  static empty(): Acl {
    return new Acl(new Map(), Date.now);
  }

  /**
   * Validates a parsed ACL document, scrypt hashes included.
   *
   * @param clock milliseconds for the lifetimes of cached checks; replaceable in tests.
   * @throws {ConfigError} naming the file, the key and the problem.
   */
  static parse(raw: unknown, file: string, clock: () => number = Date.now): Acl {
    const users = new Map<string, Entry>();
    if (raw === null || raw === undefined) return new Acl(users, clock);
    if (typeof raw !== "object" || Array.isArray(raw)) {
      throw new ConfigError(`${file}: top level: must be a mapping of user names`);
    }
    for (const [user, value] of Object.entries(raw)) {
      users.set(user, parseUser(user, value, file));
    }
    return new Acl(users, clock);
  }

  /** The number of users. */
  get size(): number {
    return this.#users.size;
  }

  /** Users whose password is stored as plaintext, in file order. */
  get plaintextUsers(): string[] {
    return [...this.#users].filter(([, entry]) => !isPasswordHash(entry.stored)).map(([u]) => u);
  }

  /** True when the file names `user` (whose password is then checked here, not in LDAP). */
  has(user: string): boolean {
    return this.#users.has(user);
  }

  /**
   * Checks a user's password in constant time; an unknown user costs the same as a known
   * one. Answers `busy` rather than queue behind too many checks.
   */
  authenticate(user: string, password: string): Promise<AclCheck> {
    const key = createHmac("sha256", CACHE_SECRET).update(JSON.stringify([user, password]))
      .digest("base64");
    const known = this.#cache.get(key) ?? this.#inflight.get(key);
    if (known) {
      this.#cacheHits++;
      return Promise.resolve(known);
    }
    const check = this.#check(key, user, password).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, check);
    return check;
  }

  /** The current principal of `user`, or null when the user is gone. */
  principal(user: string): Principal | null {
    return this.#users.get(user)?.principal ?? null;
  }

  /** A snapshot of the counters. */
  stats(): AclStats {
    return { checks: this.#checks, cacheHits: this.#cacheHits, busy: this.#busy };
  }

  async #check(key: string, user: string, password: string): Promise<AclCheck> {
    const entry = this.#users.get(user);
    let ok: boolean;
    try {
      ok = entry ? await verifyPassword(entry.stored, password) : await dummyVerify(password);
    } catch (err) {
      if (!(err instanceof PasswordBusyError)) throw err;
      this.#busy++;
      return BUSY;
    }
    this.#checks++;
    const outcome: Outcome = ok && entry ? { status: "ok", principal: entry.principal } : DENIED;
    this.#cache.set(key, outcome, outcome.status === "ok" ? SUCCESS_TTL_MS : FAILURE_TTL_MS);
    return outcome;
  }
}

function parseUser(user: string, value: unknown, file: string): Entry {
  const fail = (key: string, problem: string): never => {
    throw new ConfigError(`${file}: ${user}${key}: ${problem}`);
  };
  if (!value || typeof value !== "object" || Array.isArray(value)) fail("", "must be a mapping");
  const fields = value as Record<string, unknown>;
  const password = fields["password"];
  if (typeof password !== "string" && typeof password !== "number") {
    fail(".password", "must be a string");
  }
  const stored = String(password);
  const problem = passwordHashProblem(stored);
  if (problem) fail(".password", problem);
  const segments = new Map<string, string[]>();
  const acl = fields["acl"] ?? {};
  if (typeof acl !== "object" || Array.isArray(acl)) fail(".acl", "must be a mapping of segments");
  for (const [name, topics] of Object.entries(acl as object)) {
    segments.set(name, topicList(topics, () => fail(`.acl.${name}`, "must be a list of topics")));
  }
  const topics = topicList(fields["topics"] ?? [], () => fail(".topics", "must be a list"));
  return { stored, principal: Object.freeze({ user, segments, topics: new Set(topics) }) };
}

function topicList(value: unknown, fail: () => never): string[] {
  if (!Array.isArray(value)) fail();
  return value.map((t) => typeof t === "string" || typeof t === "number" ? String(t) : fail());
}

/**
 * True when `principal` may read a private event with these topics: one of its segments
 * has all its topics on the event.
 */
export function mayRead(principal: Principal | null, topics: ReadonlySet<string>): boolean {
  if (!principal) return false;
  for (const segment of principal.segments.values()) if (coveredBy(segment, topics)) return true;
  return false;
}

/**
 * Reads the ACL file. A missing file is an empty ACL, logged with what that means: with
 * LDAP configured only directory users can log in; without it private events reach
 * nobody. An invalid file throws.
 *
 * @param ldap whether `clients.ldap` is configured.
 * @throws {ConfigError} naming the file, the key and the problem.
 */
export async function loadAcl(file: string, ldap = false): Promise<Acl> {
  try {
    await Deno.stat(file);
  } catch {
    const means = ldap ? "only LDAP users can log in" : "private events will reach nobody";
    log.warn(`ACL file not found; ${means}`, { file });
    return Acl.empty();
  }
  const acl = Acl.parse(await readYaml(file), file);
  log.info("ACL loaded", { file, users: acl.size });
  const plaintext = acl.plaintextUsers;
  if (plaintext.length > 0) {
    log.warn("ACL passwords stored as plaintext; hash them with `deno task passwd`", {
      file,
      count: plaintext.length,
      users: plaintext.length > 10
        ? `${plaintext.slice(0, 10).join(", ")}, …`
        : plaintext.join(", "),
    });
  }
  return acl;
}
