/**
 * Reading YAML configuration files: the error every config problem becomes, and a reader
 * for one mapping that names `file: key` in each message. Every domain parses its own
 * section of `pubsub.yaml` with it, and `config.ts` composes the sections.
 *
 * @module
 */

import { parse as parseYaml } from "yaml";

/** A configuration problem, already phrased as `file: key: problem`. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

type Raw = Record<string, unknown>;

/** Reads fields of one YAML mapping, naming `file: key` in every error. */
export class Section {
  constructor(readonly file: string, readonly prefix: string, readonly raw: Raw) {}

  static of(file: string, prefix: string, value: unknown): Section {
    if (value === undefined || value === null) return new Section(file, prefix, {});
    if (typeof value !== "object" || Array.isArray(value)) {
      throw new ConfigError(`${file}: ${prefix}: must be a mapping`);
    }
    return new Section(file, prefix, value as Raw);
  }

  fail(key: string, problem: string): never {
    throw new ConfigError(`${this.file}: ${this.key(key)}: ${problem}`);
  }

  key(key: string): string {
    return this.prefix ? `${this.prefix}.${key}` : key;
  }

  section(key: string): Section {
    return Section.of(this.file, this.key(key), this.raw[key]);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  int(key: string, fallback: number, min: number, max: number): number {
    const value = this.raw[key];
    if (value === undefined || value === null) return fallback;
    const n = typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
    if (typeof n !== "number" || !Number.isInteger(n)) this.fail(key, `must be a whole number`);
    if (n < min || n > max) this.fail(key, `must be between ${min} and ${max}, got ${n}`);
    return n;
  }

  string(key: string, fallback: string): string {
    const value = this.raw[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "string" && typeof value !== "number") this.fail(key, "must be a string");
    return String(value);
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.raw[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "boolean") this.fail(key, "must be true or false");
    return value;
  }

  strings(key: string): string[] {
    const value = this.raw[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) this.fail(key, "must be a list");
    return value.map((item, i) => {
      if (typeof item !== "string" && typeof item !== "number") {
        this.fail(`${key}[${i}]`, "must be a string");
      }
      return String(item);
    });
  }

  /** One of `choices`; the first is the default. */
  choice<T extends string>(key: string, choices: readonly T[]): T {
    const value = this.string(key, choices[0]!);
    if (!(choices as readonly string[]).includes(value)) {
      this.fail(key, `must be one of ${choices.join(", ")}, got "${value}"`);
    }
    return value as T;
  }

  duration(key: string, fallback: number): number {
    const value = this.raw[key];
    if (value === undefined || value === null) return fallback;
    const seconds = parseDuration(value);
    if (seconds === null) {
      this.fail(key, `"${value}" is not a duration (seconds, or a number with s, m, h or d)`);
    }
    return seconds;
  }
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Parses a duration: a number of seconds, or a number followed by `s`, `m`, `h` or `d`.
 *
 * @returns seconds, or null when `value` is not a duration.
 * @example
 * ```ts
 * import { parseDuration } from "./section.ts";
 * console.assert(parseDuration("48h") === 172800);
 * ```
 */
export function parseDuration(value: unknown): number | null {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : null;
  if (typeof value !== "string") return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$/i.exec(value);
  if (!m) return null;
  return Number(m[1]) * UNIT_SECONDS[(m[2] || "s").toLowerCase()]!;
}

/**
 * Reads a YAML file.
 *
 * @throws {ConfigError} when the file cannot be read or is not valid YAML.
 */
export async function readYaml(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? "file not found" : (err as Error).message;
    throw new ConfigError(`${file}: cannot read: ${why}`);
  }
  try {
    return parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
}
