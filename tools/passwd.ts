/**
 * Makes a `pubsub_acl.yaml` entry with an scrypt-hashed password.
 *
 * ```sh
 * deno task passwd alice            # asks twice, without echo, on a terminal
 * printf '%s\n' "$PW" | deno task passwd alice
 * ```
 *
 * prints
 *
 * ```yaml
 * alice:
 *   password: scrypt$32768$8$1$...$...
 * ```
 *
 * Without a user name only the `password:` line is printed. From a pipe, the first line
 * of stdin is the password (its line ending removed).
 *
 * @module
 */

import { stringify } from "yaml";
import { promptHidden } from "../client/cli/password.ts";
import { hashPassword } from "../lib/auth/password.ts";

const encoder = new TextEncoder();

/** Reads the password, hashes it and returns the YAML text to print. */
export async function main(args: string[]): Promise<string> {
  if (args.length > 1 || args[0]?.startsWith("-")) {
    throw new Error("usage: deno task passwd [user] < password");
  }
  const password = Deno.stdin.isTerminal() ? await promptTwice() : await firstLine();
  if (password === "") throw new Error("the password is empty");
  const entry = { password: await hashPassword(password) };
  return stringify(args[0] === undefined ? entry : { [args[0]]: entry });
}

async function firstLine(): Promise<string> {
  const text = await new Response(Deno.stdin.readable).text();
  return text.split(/\r?\n/, 1)[0] ?? "";
}

async function promptTwice(): Promise<string> {
  const first = await promptHidden("Password: ");
  const second = await promptHidden("Again: ");
  if (first !== second) throw new Error("the passwords differ");
  return first;
}

if (import.meta.main) {
  try {
    Deno.stdout.writeSync(encoder.encode(await main(Deno.args)));
  } catch (err) {
    Deno.stderr.writeSync(encoder.encode(`passwd: ${(err as Error).message}\n`));
    Deno.exit(1);
  }
}
