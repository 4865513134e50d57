/**
 * Turns load results into the benchmark's Markdown tables: medians per target, ratios to
 * nchan, and whether each target is met; plus a detail table for diagnosing a run.
 *
 * @module
 */

import type { LoadResult } from "./load_spec.ts";
import type { Metric, Scenario } from "./scenarios.ts";

/** What one server is in the table. */
export interface Column {
  /** Unique key of the target, e.g. `ours` or `ours:node`. */
  readonly key: string;
  readonly label: string;
  readonly kind: "ceiling" | "runtime" | "floor" | "ours" | "nchan";
  /** The HTTP engine of an `ours` column, or the runtime a `runtime` column measures. */
  readonly engine?: string;
}

/** Every run of every scenario against every column, in the order they ran. */
export class Results {
  #runs = new Map<string, Array<LoadResult | string>>();

  /** Records a result, or an error message for a run that failed. */
  add(scenario: string, column: string, result: LoadResult | string): void {
    const key = `${scenario}/${column}`;
    const list = this.#runs.get(key) ?? [];
    list.push(result);
    this.#runs.set(key, list);
  }

  /** The successful runs of one scenario against one column. */
  ok(scenario: string, column: string): LoadResult[] {
    return (this.#runs.get(`${scenario}/${column}`) ?? []).filter((r) => typeof r !== "string");
  }

  /** The error messages of one scenario against one column. */
  errors(scenario: string, column: string): string[] {
    return (this.#runs.get(`${scenario}/${column}`) ?? []).filter((r) => typeof r === "string");
  }

  /** Plain data for a JSON dump. */
  toJSON(): Record<string, Array<LoadResult | string>> {
    return Object.fromEntries(this.#runs);
  }
}

/** The median of the finite values, or NaN when there are none. */
export function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * A figure in the table's style: rates with k/M suffixes, the rest with 3 significant
 * digits.
 *
 * @example
 * ```ts
 * import { formatValue } from "./report.ts";
 * console.assert(formatValue(142_300, "/s") === "142k");
 * console.assert(formatValue(5.83, "ms") === "5.83 ms");
 * ```
 */
export function formatValue(value: number, unit: Metric["unit"]): string {
  if (!Number.isFinite(value)) return "—";
  if (unit === "/s") {
    if (value >= 1e6) return `${(value / 1e6).toPrecision(3)}M`;
    if (value >= 1e3) return `${Math.round(value / 1e3)}k`;
    return value.toFixed(0);
  }
  const digits = value === 0 ? "0" : value >= 100 ? value.toFixed(0) : value.toPrecision(3);
  return `${digits} ${unit === "%" ? "%" : unit}`;
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(" | ")} |`;
}

function cell(results: Results, scenario: Scenario, metric: Metric, column: Column): number {
  return median(results.ok(scenario.id, column.key).map((r) => metric.pick(r)));
}

function display(results: Results, scenario: Scenario, metric: Metric, column: Column): string {
  const value = cell(results, scenario, metric, column);
  if (Number.isFinite(value)) return formatValue(value, metric.unit);
  return results.errors(scenario.id, column.key).length > 0 ? "error" : "—";
}

function verdict(met: boolean | null): string {
  return met === null ? "—" : met ? "met" : "**not met**";
}

function ratioCell(ours: number, theirs: number): string {
  const ratio = ours / theirs;
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : "—";
}

/** A finite figure, or null. */
function known(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/**
 * The main table: one row per figure, one column per server, then for each of our
 * columns its ratio to nchan, its ratio to its engine's runtime alone, and the target.
 */
export function summaryTable(
  results: Results,
  scenarios: readonly Scenario[],
  columns: readonly Column[],
): string {
  const nchan = columns.find((c) => c.kind === "nchan") ?? null;
  const ours = columns.filter((c) => c.kind === "ours");
  const runtimeOf = (c: Column) =>
    columns.find((r) => r.kind === "runtime" && r.engine === c.engine) ?? null;
  const header = ["scenario", "figure", ...columns.map((c) => c.label)];
  for (const c of ours) {
    if (nchan) header.push(`${c.label} ÷ nchan`);
    const runtime = runtimeOf(c);
    if (runtime) header.push(`${c.label} ÷ ${runtime.label}`);
    header.push(ours.length > 1 ? `target (${c.label})` : "target");
  }
  const lines = [row(header), row(header.map(() => "---"))];
  for (const scenario of scenarios) {
    for (const [i, metric] of scenario.metrics.entries()) {
      const name = i === 0 ? `(${scenario.id}) ${scenario.title}` : "";
      const cells = [
        name,
        metric.label,
        ...columns.map((c) => display(results, scenario, metric, c)),
      ];
      const theirs = nchan ? cell(results, scenario, metric, nchan) : NaN;
      for (const c of ours) {
        const value = cell(results, scenario, metric, c);
        if (nchan) cells.push(ratioCell(value, theirs));
        const runtime = runtimeOf(c);
        const alone = runtime ? cell(results, scenario, metric, runtime) : NaN;
        if (runtime) cells.push(ratioCell(value, alone));
        if (!metric.goal) cells.push("");
        else {
          const refs = { nchan: known(theirs), runtime: known(alone) };
          const met = Number.isFinite(value) ? metric.goal.check(value, refs) : null;
          cells.push(`${metric.goal.text}: ${verdict(met)}`);
        }
      }
      lines.push(row(cells));
    }
  }
  return lines.join("\n");
}

/** Per-run details (medians): subscribers opened, publishes, losses, latency spread. */
export function detailTable(
  results: Results,
  scenarios: readonly Scenario[],
  columns: readonly Column[],
): string {
  const header = [
    "scenario",
    "server",
    "runs",
    "subscribers open",
    "accepted publishes/s",
    "deliveries/s",
    "expected",
    "received",
    "p50 / p99 / max ms",
    "streams ended",
    "CPU % server / generator / other",
    "per server CPU-second",
    "server RSS before → after",
  ];
  const lines = [row(header), row(header.map(() => "---"))];
  for (const s of scenarios) {
    for (const c of columns) {
      const runs = results.ok(s.id, c.key);
      const errors = results.errors(s.id, c.key);
      if (runs.length === 0 && errors.length === 0) continue;
      const m = (pick: (r: LoadResult) => number) => median(runs.map(pick));
      const ms = (v: number) => (Number.isFinite(v) ? v.toPrecision(3) : "—");
      const pct = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : "—");
      const mem = runs[0]?.memory;
      lines.push(row([
        s.id,
        c.label,
        `${runs.length}${errors.length ? ` (+${errors.length} failed: ${errors[0]})` : ""}`,
        `${m((r) => r.subscribers.opened)} / ${m((r) => r.subscribers.requested)}`,
        formatValue(m((r) => r.publish.perSecond), "/s"),
        formatValue(m((r) => r.deliveries.perSecond), "/s"),
        String(m((r) => r.deliveries.expected)),
        String(m((r) => r.deliveries.received)),
        `${ms(m((r) => r.latency.p50))} / ${ms(m((r) => r.latency.p99))} / ${
          ms(m((r) => r.latency.max))
        }`,
        String(m((r) => r.subscribers.endedEarly)),
        [
          pct(m((r) => r.cpu?.serverPct ?? NaN)),
          pct(m((r) => r.cpu?.generatorPct ?? NaN)),
          pct(m((r) => r.cpu?.otherPct ?? NaN)),
        ].join(" / "),
        formatValue(m(workPerCpuSecond), "/s").replace(/\/s$/, ""),
        mem ? `${(mem.beforeKB / 1024).toFixed(0)} → ${(mem.afterKB / 1024).toFixed(0)} MB` : "—",
      ]));
    }
  }
  return lines.join("\n");
}

/**
 * Deliveries (or, without subscribers, publishes) per second of server CPU time: what
 * the server would do with a whole core to itself, robust to other work on the machine.
 */
function workPerCpuSecond(r: LoadResult): number {
  const work = r.deliveries.received > 0 ? r.deliveries.received : r.publish.accepted;
  return r.cpu && r.cpu.serverSeconds > 0 ? work / r.cpu.serverSeconds : NaN;
}

/** Other processes using more than this share of a core make a run's figures suspect. */
const BUSY_MACHINE_PCT = 25;
/** A generator this busy is the bottleneck: the server could have done more. */
const GENERATOR_BOUND_PCT = 90;

/**
 * Warnings about runs whose figures do not mean what the table says: events lost,
 * subscribers that did not open, a fixed rate not reached, a generator that was the
 * bottleneck, or a machine busy with other work. One line each, as a Markdown list.
 */
export function runNotes(
  results: Results,
  scenarios: readonly Scenario[],
  columns: readonly Column[],
  quick: boolean,
): string[] {
  const notes: string[] = [];
  for (const s of scenarios) {
    const rate = s.load(quick).rate;
    for (const c of columns) {
      const at = `(${s.id}) ${c.label}`;
      for (const error of new Set(results.errors(s.id, c.key))) notes.push(`${at}: ${error}`);
      const runs = results.ok(s.id, c.key);
      if (runs.length === 0) continue;
      const m = (pick: (r: LoadResult) => number) => median(runs.map(pick));
      const lost = m((r) => r.deliveries.lost);
      if (lost > 0) notes.push(`${at}: ${lost} deliveries lost (median)`);
      const failed = m((r) => r.subscribers.failed);
      if (failed > 0) {
        const why = runs.find((r) => r.subscribers.firstError)?.subscribers.firstError;
        notes.push(`${at}: ${failed} subscribers did not open (${why})`);
      }
      const ended = m((r) => r.subscribers.endedEarly);
      if (ended > 0) notes.push(`${at}: the server ended ${ended} streams during the run`);
      const achieved = m((r) => r.publish.perSecond);
      if (rate !== null && achieved < rate * 0.95) {
        notes.push(`${at}: published ${achieved.toFixed(1)}/s of the ${rate}/s asked`);
      }
      const generator = m((r) => r.cpu?.generatorPct ?? NaN);
      if (generator > GENERATOR_BOUND_PCT) {
        notes.push(
          `${at}: the generator used ${generator.toFixed(0)} % of its core: ` +
            "the figure is the generator's limit, the server's is higher",
        );
      }
      const other = m((r) => r.cpu?.otherPct ?? NaN);
      if (other > BUSY_MACHINE_PCT) {
        notes.push(`${at}: other processes used ${other.toFixed(0)} % of a core during the run`);
      }
    }
  }
  return notes.map((note) => `- ${note}`);
}
