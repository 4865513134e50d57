/**
 * DenoPubSub: an HTTP publish/subscribe service speaking PyPubSub's protocol.
 *
 * Run: `deno task start [--config pubsub.yaml] [--acl pubsub_acl.yaml]`
 *
 * @module
 */

import { importBacklog, startApp } from "./lib/app.ts";
import { parseCli, USAGE } from "./lib/cli.ts";
import { configureLog, errorMessage, log } from "./lib/log.ts";
import { VERSION } from "./lib/version.ts";

async function main(args: string[]): Promise<number> {
  let cli;
  try {
    cli = parseCli(args);
  } catch (err) {
    log.error(`${errorMessage(err)} (see --help)`);
    return 2;
  }
  if (cli.help || cli.version) {
    await Deno.stdout.write(new TextEncoder().encode(cli.help ? USAGE + "\n" : `${VERSION}\n`));
    return 0;
  }
  configureLog({ level: cli.logLevel, format: cli.logFormat });
  if (cli.importBacklog) {
    try {
      const result = await importBacklog(cli.config, cli.importBacklog);
      log.info("backlog imported", { file: cli.importBacklog, ...result });
      return 0;
    } catch (err) {
      log.error(errorMessage(err));
      return 1;
    }
  }
  let app;
  try {
    app = await startApp(cli);
  } catch (err) {
    log.error(errorMessage(err));
    return 1;
  }
  log.info(`DenoPubSub ${VERSION} started`, { config: cli.config, acl: cli.acl });
  const running = app;
  Deno.addSignalListener("SIGHUP", () => void running.reload("all"));
  Deno.addSignalListener("SIGUSR2", () => void running.reload("acl"));
  const stopped = Promise.withResolvers<boolean>();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    running.stop().then(stopped.resolve);
  };
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  const stored = await stopped.promise;
  log.info("stopped");
  return stored ? 0 : 1;
}

Deno.exit(await main(Deno.args));
