/**
 * Password hashing and checking for `pubsub_acl.yaml`.
 *
 * A stored password is either plaintext (PyPubSub's format, still accepted) or an scrypt
 * hash written as
 *
 * ```text
 * scrypt$N$r$p$salt$hash
 * scrypt$32768$8$1$q5WmNpvKc3Mv0r3UqVXl7A==$9yR0b4...=
 * ```
 *
 * where `N` (CPU/memory cost, a power of two), `r` (block size) and `p` (parallelism) are
 * the scrypt parameters in decimal, `salt` is 16 random bytes and `hash` the 32-byte
 * derived key, both in standard base64. The password is NFC-normalised before hashing.
 * `deno task passwd` makes such a value. A plaintext password that happens to begin with
 * `scrypt$` is read as a hash.
 *
 * Checks are constant-time: a hash is compared with `timingSafeEqual`, and plaintext is
 * compared through fixed-length SHA-256 digests. Every check costs one scrypt at the
 * default parameters (a plaintext check runs one for nothing), and {@link dummyVerify}
 * costs the same for an unknown user, so timing tells neither whether a user exists nor
 * how its password is stored.
 *
 * scrypt runs off the main thread, one fewer at a time than there are CPU cores (at least
 * one; each holds 128·N·r bytes, 32 MiB by default), so that the event loop keeps a core
 * for publishing and delivery. A few more wait their turn; beyond that a check fails at
 * once with {@link PasswordBusyError}, so a storm of logins cannot queue without bound.
 *
 * @module
 */

import { createHash, randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/** scrypt cost parameters. */
export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  /** Block size. */
  readonly r: number;
  /** Parallelism. */
  readonly p: number;
}

/** Parameters of new hashes: 32 MiB and about 0.1–0.2 s per check. */
export const DEFAULT_SCRYPT: ScryptParams = Object.freeze({ N: 2 ** 15, r: 8, p: 1 });

const PREFIX = "scrypt$";
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const LIMITS = { N: [2 ** 10, 2 ** 20], r: [1, 32], p: [1, 16] } as const;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** scrypt computations run at once: one fewer than the machine has cores, at least one. */
export const MAX_RUNNING: number = Math.max(1, (navigator.hardwareConcurrency ?? 2) - 1);
/**
 * Checks that may wait for a free slot, about three seconds of waiting at the default
 * parameters; a check beyond them is refused at once.
 */
export const MAX_WAITING: number = 16 * MAX_RUNNING;
const DUMMY_SALT = randomBytes(SALT_BYTES);

/** Too many password checks are under way or waiting; the caller should retry later. */
export class PasswordBusyError extends Error {
  override name = "PasswordBusyError";
  constructor() {
    super("too many password checks under way");
  }
}

interface ParsedHash {
  params: ScryptParams;
  salt: Uint8Array;
  hash: Uint8Array;
}

/**
 * Hashes a password for `pubsub_acl.yaml`.
 *
 * @example
 * ```ts
 * import { hashPassword, verifyPassword } from "./password.ts";
 * const stored = await hashPassword("correct horse", { N: 1024, r: 8, p: 1 });
 * await verifyPassword(stored, "correct horse"); // true
 * ```
 */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT,
): Promise<string> {
  if (password === "") throw new Error("refusing to hash an empty password");
  const problem = paramsProblem(params);
  if (problem) throw new Error(problem);
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, params, KEY_BYTES);
  const { N, r, p } = params;
  return `${PREFIX}${N}$${r}$${p}$${toBase64(salt)}$${toBase64(hash)}`;
}

/** True when a stored password is an scrypt hash rather than plaintext. */
export function isPasswordHash(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/**
 * Why a stored scrypt hash is unusable, or undefined when it is fine (and for plaintext).
 * For validating `pubsub_acl.yaml` at load time.
 */
export function passwordHashProblem(stored: string): string | undefined {
  if (!isPasswordHash(stored)) return undefined;
  const parsed = parseHash(stored);
  return typeof parsed === "string" ? parsed : undefined;
}

/**
 * Checks a password against a stored value (scrypt hash or plaintext) in constant time.
 * An empty stored value or an empty password never matches.
 *
 * @throws {PasswordBusyError} when too many checks are already waiting.
 */
export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  const parsed = isPasswordHash(stored) ? parseHash(stored) : undefined;
  if (parsed === undefined || typeof parsed === "string") {
    await dummyVerify(password);
    return parsed === undefined && stored !== "" && password !== "" &&
      timingSafeEqual(digest(stored), digest(password));
  }
  const candidate = await derive(password, parsed.salt, parsed.params, parsed.hash.length);
  return password !== "" && timingSafeEqual(candidate, parsed.hash);
}

/**
 * Spends what checking a default-parameter hash costs, and answers false: call it for an
 * unknown user so that it takes as long as a known one.
 *
 * @throws {PasswordBusyError} when too many checks are already waiting.
 */
export async function dummyVerify(password: string): Promise<false> {
  await derive(password, DUMMY_SALT, DEFAULT_SCRYPT, KEY_BYTES);
  return false;
}

function parseHash(stored: string): ParsedHash | string {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") {
    return "an scrypt hash must read scrypt$N$r$p$salt$hash";
  }
  const [N, r, p] = parts.slice(1, 4).map((v) => /^\d{1,9}$/.test(v ?? "") ? Number(v) : NaN);
  const params = { N: N as number, r: r as number, p: p as number };
  const problem = paramsProblem(params);
  if (problem) return problem;
  const [salt, hash] = [parts[4] as string, parts[5] as string];
  if (!BASE64.test(salt) || !BASE64.test(hash)) return "salt and hash must be base64";
  const saltBytes = fromBase64(salt);
  const hashBytes = fromBase64(hash);
  if (saltBytes.length < 8) return "the salt must be at least 8 bytes";
  if (hashBytes.length < 16 || hashBytes.length > 64) return "the hash must be 16 to 64 bytes";
  return { params, salt: saltBytes, hash: hashBytes };
}

function paramsProblem(params: ScryptParams): string | undefined {
  for (const key of ["N", "r", "p"] as const) {
    const [min, max] = LIMITS[key];
    const value = params[key];
    if (!Number.isInteger(value) || value < min || value > max) {
      return `scrypt ${key} must be an integer from ${min} to ${max}, got ${value}`;
    }
  }
  if ((params.N & (params.N - 1)) !== 0) return `scrypt N must be a power of two, got ${params.N}`;
  return undefined;
}

function derive(
  password: string,
  salt: Uint8Array,
  { N, r, p }: ScryptParams,
  length: number,
): Promise<Uint8Array> {
  return limited(() =>
    new Promise((resolve, reject) => {
      const options = { N, r, p, maxmem: 256 * N * r + 1024 * r * p };
      scrypt(password.normalize("NFC"), salt, length, options, (err, key) => {
        if (err) reject(err);
        else resolve(new Uint8Array(key));
      });
    })
  );
}

function digest(text: string): Uint8Array {
  return createHash("sha256").update(text.normalize("NFC")).digest();
}

let running = 0;
const waiting: (() => void)[] = [];

/**
 * Runs `fn` when fewer than MAX_RUNNING scrypt computations are under way; refuses at once
 * when MAX_WAITING are already waiting.
 */
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (running < MAX_RUNNING) running++;
  else if (waiting.length >= MAX_WAITING) throw new PasswordBusyError();
  else await new Promise<void>((resolve) => waiting.push(resolve));
  try {
    return await fn();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64(text: string): Uint8Array {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return new Uint8Array();
  }
}
