/**
 * The one place that writes log lines. Human-readable text by default, or one JSON object
 * per line; every line is a single line, so an expected failure never prints a stack trace.
 *
 * @module
 */

/** Severity of a log line, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** How lines are written: `text` for people, `json` for log collectors. */
export type LogFormat = "text" | "json";

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Extra key/value pairs carried by a line. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** How and where lines are written. */
export interface LogSettings {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go; tests swap it to capture output. */
  write: (line: string) => void;
  /** Fields every line carries, e.g. the node id of a cluster node; null for none. */
  context: LogFields | null;
}

const encoder = new TextEncoder();

const settings: LogSettings = {
  level: "info",
  format: "text",
  write: (line) => Deno.stderr.writeSync(encoder.encode(line + "\n")),
  context: null,
};

/**
 * Sets the minimum level, the output format or the writer.
 *
 * @returns the settings before the change, to restore them later.
 * @example
 * ```ts
 * import { configureLog } from "./log.ts";
 * configureLog({ level: "debug", format: "json" });
 * ```
 */
export function configureLog(opts: Partial<LogSettings>): LogSettings {
  const before = { ...settings };
  Object.assign(settings, opts);
  return before;
}

/** True when lines of `level` are written; lets callers skip building costly fields. */
export function logEnabled(level: LogLevel): boolean {
  return ORDER[level] >= ORDER[settings.level];
}

function emit(level: LogLevel, msg: string, lineFields?: LogFields): void {
  if (!logEnabled(level)) return;
  const fields = settings.context ? { ...settings.context, ...lineFields } : lineFields;
  const time = new Date().toISOString();
  if (settings.format === "json") {
    settings.write(JSON.stringify({ time, level, msg, ...fields }));
    return;
  }
  let line = `${time} ${level.toUpperCase().padEnd(5)} ${msg}`;
  if (fields) {
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined) line += ` ${k}=${typeof v === "string" ? JSON.stringify(v) : v}`;
    }
  }
  settings.write(line.replaceAll("\n", " "));
}

/** The logger: `log.info("message", { key: value })`. */
export const log = {
  debug: (msg: string, fields?: LogFields): void => emit("debug", msg, fields),
  info: (msg: string, fields?: LogFields): void => emit("info", msg, fields),
  warn: (msg: string, fields?: LogFields): void => emit("warn", msg, fields),
  error: (msg: string, fields?: LogFields): void => emit("error", msg, fields),
};

/** The message of an unknown thrown value, on one line. */
export function errorMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replaceAll("\n", " ");
}
