/**
 * The running service: settings loaded from files, the server, reload and shutdown.
 *
 * @module
 */

import { loadAcl } from "./acl.ts";
import { ldapFor, retireLdap } from "./auth.ts";
import { loadConfig } from "./config.ts";
import { errorMessage, log } from "./log.ts";
import { PubSubServer, type Settings } from "./server.ts";

/** Where the settings come from. */
export interface AppFiles {
  config: string;
  acl: string;
}

/**
 * Loads both files and starts listening.
 *
 * @throws {ConfigError} when a file is invalid; the message names file, key and problem.
 */
export async function startApp(files: AppFiles): Promise<App> {
  const config = await loadConfig(files.config);
  const acl = await loadAcl(files.acl);
  const server = new PubSubServer({ config, acl, ldap: ldapFor(config.clients.ldap, null) });
  await server.listen();
  return new App(files, server);
}

/** A started service. */
export class App {
  constructor(readonly files: AppFiles, readonly server: PubSubServer) {}

  /**
   * Re-reads both files (or only the ACL) and swaps them in whole. A file that fails
   * validation is refused with one log line and the running settings stay. LDAP logins
   * are looked up afresh: the cache is cleared, or the authenticator replaced when its
   * settings changed.
   *
   * @returns true when the new settings were applied.
   */
  async reload(what: "all" | "acl" = "all"): Promise<boolean> {
    const current = this.server.settings;
    let next: Settings;
    try {
      const config = what === "all" ? await loadConfig(this.files.config) : current.config;
      const acl = await loadAcl(this.files.acl);
      next = { config, acl, ldap: ldapFor(config.clients.ldap, current.ldap) };
    } catch (err) {
      log.error("reload refused, running settings kept", { error: errorMessage(err) });
      return false;
    }
    this.server.reload(next);
    await retireLdap(current.ldap, next.ldap);
    log.info("settings reloaded", { what, users: next.acl.size });
    return true;
  }

  /** Ends every stream and stops the listeners. */
  async stop(): Promise<void> {
    await this.server.close();
    await this.server.settings.ldap?.close();
  }
}
