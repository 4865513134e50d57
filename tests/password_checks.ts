/**
 * Filling the password checks for a while, to test what happens when logins must wait or
 * cannot: real scrypt runs in every slot, so a login sent meanwhile queues or is refused.
 *
 * @module
 */

import { hashPassword, MAX_RUNNING, verifyPassword } from "../lib/auth/password.ts";

/** Cheap scrypt parameters: the stored format is the same, the tests stay quick. */
export const FAST = { N: 1024, r: 8, p: 1 };
/** A check that holds its slot for most of a second (8 MiB; the p runs follow each other). */
const SLOW = { N: 2 ** 13, r: 8, p: 16 };

let slowHash: Promise<string> | undefined;
let fastHash: Promise<string> | undefined;

/** Password checks holding every running slot; `await using` waits for them to finish. */
export interface HeldChecks extends AsyncDisposable {
  /** True once every held check has finished. */
  done(): boolean;
}

/**
 * Fills the password checks: a slow one in every running slot, then `waiting` quick ones
 * in the queue behind them.
 */
export async function holdChecks(waiting: number): Promise<HeldChecks> {
  slowHash ??= hashPassword("slow", SLOW);
  fastHash ??= hashPassword("fast", FAST);
  const [slow, fast] = await Promise.all([slowHash, fastHash]);
  let finished = false;
  const all = Promise.all([
    ...Array.from({ length: MAX_RUNNING }, () => verifyPassword(slow, "slow")),
    ...Array.from({ length: waiting }, () => verifyPassword(fast, "fast")),
  ]).then(() => {
    finished = true;
  });
  return { done: () => finished, [Symbol.asyncDispose]: () => all };
}
