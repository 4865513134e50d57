/**
 * The command line of the client: `sub` prints the events of a URL and never misses one,
 * `pub` publishes one. Run with `deno task sub …` / `deno task pub …`, or install it:
 *
 * ```sh
 * deno install -g -n denopubsub --allow-net --allow-read --allow-write \
 *   --allow-env=DENOPUBSUB_PASSWORD client/cli.ts
 * denopubsub sub http://localhost:2069/git --raw --cursor-file ~/.git-cursor
 * denopubsub pub http://localhost:2069/git/myrepo '{"commit": "abc123"}'
 * ```
 *
 * @module
 */

import { parsePubArgs, parseSubArgs, USAGE, UsageError } from "./cli/args.ts";
import { say, writeOut } from "./cli/output.ts";
import { runPub } from "./cli/pub.ts";
import { runSub } from "./cli/sub.ts";

/**
 * Runs a command line; resolves with the exit code: 0 done, 1 failed, 2 bad usage, 130
 * `sub` stopped by Ctrl-C.
 */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || args.includes("--help") || args.includes("-h")) {
    await writeOut(new TextEncoder().encode(USAGE + "\n"));
    return command === undefined ? 2 : 0;
  }
  try {
    if (command === "sub") return await runSub(parseSubArgs(rest));
    if (command === "pub") return await runPub(parsePubArgs(rest));
    throw new UsageError(`unknown command "${command}": sub or pub`);
  } catch (err) {
    say(`${command}: ${(err as Error).message}${err instanceof UsageError ? " (see --help)" : ""}`);
    return err instanceof UsageError ? 2 : 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
