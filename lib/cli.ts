/**
 * Command-line flags. PyPubSub's `--config` and `--acl` keep their meaning.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { LogFormat, LogLevel } from "./log.ts";

/** What the command line asks for. */
export interface CliOptions {
  config: string;
  acl: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** A PyPubSub backlog file to import into the configured history, then exit. */
  importBacklog: string | null;
  help: boolean;
  version: boolean;
}

/** The `--help` text. */
export const USAGE = `Usage: denopubsub [options]

  --config FILE        server configuration (default: pubsub.yaml)
  --acl FILE           users and private-event ACL (default: pubsub_acl.yaml)
  --log-level LEVEL    debug, info, warn or error (default: info)
  --log-format FORMAT  text or json (default: text)
  --import-backlog FILE
                       import a PyPubSub backlog file into server.backlog.storage, then exit
  --help               show this help
  --version            show the version

Signals: SIGHUP re-reads both files, SIGUSR2 re-reads the ACL,
SIGTERM or SIGINT ends every stream and exits.`;

const LEVELS = ["debug", "info", "warn", "error"];
const FORMATS = ["text", "json"];

/**
 * Parses the command line.
 *
 * @throws {Error} with a one-line message for an unknown flag or a bad value.
 * @example
 * ```ts
 * import { parseCli } from "./cli.ts";
 * console.assert(parseCli(["--config", "x.yaml"]).config === "x.yaml");
 * ```
 */
export function parseCli(args: string[]): CliOptions {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: "string", default: "pubsub.yaml" },
      acl: { type: "string", default: "pubsub_acl.yaml" },
      "log-level": { type: "string", default: "info" },
      "log-format": { type: "string", default: "text" },
      "import-backlog": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
      version: { type: "boolean", short: "V", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const logLevel = values["log-level"];
  const logFormat = values["log-format"];
  if (!LEVELS.includes(logLevel)) throw new Error(`--log-level must be one of ${LEVELS}`);
  if (!FORMATS.includes(logFormat)) throw new Error(`--log-format must be one of ${FORMATS}`);
  return {
    config: values.config,
    acl: values.acl,
    logLevel: logLevel as LogLevel,
    logFormat: logFormat as LogFormat,
    importBacklog: values["import-backlog"] ?? null,
    help: values.help,
    version: values.version,
  };
}
