/**
 * The password of `--user`: from `DENOPUBSUB_PASSWORD`, or asked on the terminal without
 * echo. Never from the command line, where other users of the machine could read it.
 *
 * @module
 */

import type { Credentials } from "../request.ts";

/** The environment variable a password is read from. */
export const PASSWORD_ENV = "DENOPUBSUB_PASSWORD";

const encoder = new TextEncoder();

/**
 * Credentials for `user`: the password from `DENOPUBSUB_PASSWORD` when it is set, else
 * asked on the terminal.
 *
 * @throws {Error} when the variable is unset and stdin is not a terminal to ask on.
 */
export async function credentialsFor(user: string): Promise<Credentials> {
  const fromEnv = Deno.env.get(PASSWORD_ENV);
  if (fromEnv !== undefined) return { user, password: fromEnv };
  if (!Deno.stdin.isTerminal()) {
    throw new Error(`--user ${user} needs ${PASSWORD_ENV} set, or a terminal to ask on`);
  }
  return { user, password: await promptHidden(`Password for ${user}: `) };
}

/**
 * Reads one line from the terminal with echo off; Ctrl-C gives up.
 *
 * @throws {Error} "interrupted" on Ctrl-C.
 */
export async function promptHidden(label: string): Promise<string> {
  await Deno.stderr.write(encoder.encode(label));
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
    await Deno.stderr.write(encoder.encode("\n"));
  }
}
