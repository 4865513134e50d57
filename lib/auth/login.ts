/**
 * Who is asking: HTTP Basic credentials checked against the ACL file first, then against
 * LDAP for user names the file does not have (PyPubSub's order); and what an open stream
 * may still see after the settings are reloaded.
 *
 * An ACL-file user gets the file's segments and secure topics. An LDAP user gets the
 * segments its DN and groups are granted in `clients.ldap.acl`, and no secure topics.
 *
 * Folder `lib/auth/`: who may do what. The ACL file (`acl.ts`), password hashes
 * (`password.ts`), LDAP (`ldap*.ts`), CIDR allow-lists (`net.ts`) and this module, which
 * turns credentials into a principal.
 *
 * @module
 */

import type { Acl, Principal } from "./acl.ts";
import { HttpError } from "../http/error.ts";
import { LdapAuthenticator, type LdapAuthResult, type LdapConfig, type Segments } from "./ldap.ts";
import { type Credentials, unauthorized } from "../http/request.ts";

/** Where credentials are checked: the settings in force. */
export interface AuthSources {
  readonly acl: Acl;
  readonly ldap: LdapAuthenticator | null;
}

const NO_TOPICS: ReadonlySet<string> = new Set();
const WRONG = "wrong user name or password";
/** Seconds a client is asked to wait before retrying a login that could not be checked. */
const RETRY_AFTER = { "Retry-After": "2" };

/**
 * Checks credentials: the ACL file when it names the user (or when there is no LDAP),
 * LDAP otherwise.
 *
 * @throws {HttpError} 401 for a wrong password or unknown user; 503 when the check
 * cannot be made now (LDAP unavailable, too many password checks under way).
 * @example
 * ```ts ignore
 * import { authenticate } from "./login.ts";
 * const principal = await authenticate({ acl, ldap: null }, { user: "u", password: "p" });
 * ```
 */
export async function authenticate(
  sources: AuthSources,
  { user, password }: Credentials,
): Promise<Principal> {
  const { acl, ldap } = sources;
  if (ldap && !acl.has(user)) return fromLdap(user, await ldap.authenticate(user, password));
  const check = await acl.authenticate(user, password);
  if (check.status === "ok") return check.principal;
  if (check.status === "busy") {
    throw new HttpError(503, "too many logins under way; try again shortly", RETRY_AFTER);
  }
  throw unauthorized(WRONG);
}

function fromLdap(user: string, result: LdapAuthResult): Principal {
  if (result.status === "denied") throw unauthorized(WRONG);
  if (result.status === "unavailable") {
    throw new HttpError(503, "LDAP is unavailable; try again shortly", RETRY_AFTER);
  }
  return ldapPrincipal(user, result.dns, result.segments);
}

function ldapPrincipal(user: string, dns: readonly string[], segments: Segments): Principal {
  return Object.freeze({
    user,
    segments: new Map(Object.entries(segments)),
    topics: NO_TOPICS,
    ldapDns: dns,
  });
}

/**
 * What a principal holds under new settings: an ACL-file user is looked up in the new
 * file; an LDAP user keeps the DNs found at login and gets the segments the new
 * `clients.ldap.acl` grants them. Null when the user may no longer see private events
 * (gone from the file, or LDAP no longer configured).
 */
export function reevaluate(principal: Principal, sources: AuthSources): Principal | null {
  const dns = principal.ldapDns;
  if (!dns) return sources.acl.principal(principal.user);
  if (!sources.ldap) return null;
  return ldapPrincipal(principal.user, dns, sources.ldap.segmentsFor(dns));
}

/**
 * The LDAP authenticator for new settings: the running one when its settings did not
 * change, a new one when they did, null without `clients.ldap`. Hand the result to
 * {@link retireLdap} once the new settings are in force.
 */
export function ldapFor(
  config: LdapConfig | null,
  running: LdapAuthenticator | null,
): LdapAuthenticator | null {
  if (!config) return null;
  if (running && JSON.stringify(running.config) === JSON.stringify(config)) return running;
  return new LdapAuthenticator(config);
}

/**
 * After a reload: a kept authenticator forgets its cached logins (group membership may
 * have changed), a replaced one is closed.
 */
export async function retireLdap(
  before: LdapAuthenticator | null,
  after: LdapAuthenticator | null,
): Promise<void> {
  if (before && before === after) before.clearCache();
  else await before?.close();
}
