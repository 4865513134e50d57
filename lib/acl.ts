/**
 * `pubsub_acl.yaml`: users, their passwords, the segments of private events they may
 * read, and the secure topics they may publish.
 *
 * ```yaml
 * testuser:
 *   password: foobar
 *   acl:
 *     my_segment: [git, privaterepo.git]   # all of these topics must be on the event
 *   topics: [svn]                          # secure topics this user may publish
 * ```
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { ConfigError, readYaml } from "./config.ts";
import { log } from "./log.ts";
import { coveredBy } from "./topics.ts";

/** An authenticated user and what it may see and publish. */
export interface Principal {
  readonly user: string;
  /** Named segments; a private event is visible when one segment's topics are all on it. */
  readonly segments: ReadonlyMap<string, readonly string[]>;
  /** Secure topics this user may publish. */
  readonly topics: ReadonlySet<string>;
}

interface Entry {
  readonly digest: Uint8Array;
  readonly principal: Principal;
}

const digest = (text: string): Uint8Array => createHash("sha256").update(text).digest();
const UNKNOWN_USER = digest("\0 no such user \0");

/**
 * The loaded ACL file: a frozen snapshot, swapped whole on reload.
 *
 * @example
 * ```ts
 * import { Acl } from "./acl.ts";
 * const acl = Acl.parse({ u: { password: "p", acl: { s: ["a"] } } }, "acl.yaml");
 * console.assert(acl.authenticate("u", "p")?.user === "u");
 * ```
 */
export class Acl {
  readonly #users: ReadonlyMap<string, Entry>;

  private constructor(users: Map<string, Entry>) {
    this.#users = users;
  }

  /** An ACL with no users: private events then reach nobody. */
  static empty(): Acl {
    return new Acl(new Map());
  }

  /**
   * Validates a parsed ACL document.
   *
   * @throws {ConfigError} naming the file, the key and the problem.
   */
  static parse(raw: unknown, file: string): Acl {
    const users = new Map<string, Entry>();
    if (raw === null || raw === undefined) return new Acl(users);
    if (typeof raw !== "object" || Array.isArray(raw)) {
      throw new ConfigError(`${file}: top level: must be a mapping of user names`);
    }
    for (const [user, value] of Object.entries(raw)) {
      users.set(user, parseUser(user, value, file));
    }
    return new Acl(users);
  }

  /** The number of users. */
  get size(): number {
    return this.#users.size;
  }

  /**
   * Checks a user's password in constant time; an unknown user costs the same.
   *
   * @returns the principal, or null for an unknown user or a wrong password.
   */
  authenticate(user: string, password: string): Principal | null {
    const entry = this.#users.get(user);
    const ok = timingSafeEqual(entry?.digest ?? UNKNOWN_USER, digest(password));
    return ok && entry ? entry.principal : null;
  }

  /** The current principal of `user`, or null when the user is gone. */
  principal(user: string): Principal | null {
    return this.#users.get(user)?.principal ?? null;
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
  const segments = new Map<string, string[]>();
  const acl = fields["acl"] ?? {};
  if (typeof acl !== "object" || Array.isArray(acl)) fail(".acl", "must be a mapping of segments");
  for (const [name, topics] of Object.entries(acl as object)) {
    segments.set(name, topicList(topics, () => fail(`.acl.${name}`, "must be a list of topics")));
  }
  const topics = topicList(fields["topics"] ?? [], () => fail(".topics", "must be a list"));
  return {
    digest: digest(String(password)),
    principal: Object.freeze({ user, segments, topics: new Set(topics) }),
  };
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
 * Reads the ACL file. A missing file is an empty ACL (logged: private events then reach
 * nobody); an invalid one throws.
 *
 * @throws {ConfigError} naming the file, the key and the problem.
 */
export async function loadAcl(file: string): Promise<Acl> {
  try {
    await Deno.stat(file);
  } catch {
    log.warn("ACL file not found; private events will reach nobody", { file });
    return Acl.empty();
  }
  const acl = Acl.parse(await readYaml(file), file);
  log.info("ACL loaded", { file, users: acl.size });
  return acl;
}
