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

/** Reads one line from the terminal with echo off; Ctrl-C gives up. */
async function promptHidden(label: string): Promise<string> {
  Deno.stderr.writeSync(encoder.encode(label));
  Deno.stdin.setRaw(true);
  const chars: string[] = [];
  const buf = new Uint8Array(64);
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) return chars.join("");
      for (const ch of decoder.decode(buf.subarray(0, n), { stream: true })) {
        if (ch === "\r" || ch === "\n") return chars.join("");
        if (ch === "\u0003") throw new Error("interrupted");
        if (ch === "\u007f" || ch === "\b") chars.pop();
        else chars.push(ch);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(encoder.encode("\n"));
  }
}

if (import.meta.main) {
  try {
    Deno.stdout.writeSync(encoder.encode(await main(Deno.args)));
  } catch (err) {
    Deno.stderr.writeSync(encoder.encode(`passwd: ${(err as Error).message}\n`));
    Deno.exit(1);
  }
}
