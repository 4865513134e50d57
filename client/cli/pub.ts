/**
 * `pub`: publishes one JSON object and says whether the server accepted it.
 *
 * @module
 */

import { RefusedError, UnreachableError } from "../errors.ts";
import { publish } from "../publish.ts";
import type { PubArgs } from "./args.ts";
import { credentialsFor } from "./password.ts";
import { say } from "./output.ts";

/**
 * Publishes the JSON text of the command line (or of stdin), sent exactly as written;
 * resolves with 0 when the server accepted it, 1 after printing why not.
 *
 * @throws {Error} when the password cannot be asked.
 */
export async function runPub(args: PubArgs): Promise<number> {
  const auth = args.user === null ? undefined : await credentialsFor(args.user);
  const json = args.json ?? await new Response(Deno.stdin.readable).text();
  try {
    await publish(args.url, json, { auth, retries: args.retries });
    return 0;
  } catch (err) {
    if (err instanceof RefusedError) say(`pub: ${args.url}: ${err.status} ${err.reason}`);
    else if (err instanceof UnreachableError) say(`pub: ${err.message}`);
    else throw err;
    return 1;
  }
}
