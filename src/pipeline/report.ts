/**
 * The report contract. A processor declares its reports (`Processor.reports`):
 * the parameters, the query and the output shape, once. The CLI (`report
 * <name>`) and the admin API (`GET /reports/<name>`) serve every declared
 * report generically, so neither holds report logic of its own.
 *
 * A report's result is plain JSON. The CLI renders a table or CSV from the
 * result wherever it was computed (offline, or in the daemon and sent over
 * HTTP), which is what makes live and offline output byte-identical:
 * `JSON.parse(JSON.stringify(result))` renders the same as `result`.
 */

import type { ReadQuery } from '../state/read.js';

export type { ReadQuery };

/** A bad parameter value: one line for the user (the CLI exits 2, HTTP answers 400). */
export class ReportParamError extends Error {
  readonly name = 'ReportParamError';
}

export interface ReportParam {
  /** The query-string name; the CLI flag is `--<name>`. */
  readonly name: string;
  readonly description: string;
  /** Placeholder in the CLI help, e.g. `date`. */
  readonly valueName?: string;
  readonly choices?: readonly string[];
  readonly default?: string;
  /** A one-letter CLI flag (`s` for `-s`), as ccusage spells it. */
  readonly short?: string;
  /** Other names, for the CLI (`--timezone`) and the query string. */
  readonly aliases?: readonly string[];
  /** A switch without a value (`--breakdown`): canonical `"true"` when given. */
  readonly flag?: boolean;
  /**
   * The user's text to its canonical text, resolving anything relative to
   * `now` (`7d` becomes a date-time) and to the parameters declared before it
   * (`today` in `--tz`), so the daemon and the CLI compute the same thing.
   * Must accept its own output unchanged. Throw `ReportParamError`.
   */
  parse?(raw: string, now: number, earlier: ReportParams): string;
}

/** Canonical parameter values by name; absent when not given and without a default. */
export type ReportParams = Readonly<Record<string, string | undefined>>;

export interface ReportOutput<Result> {
  result: Result;
  /** A line for stderr (e.g. "the usage processor has not run on this database"); never part of the result. */
  notice?: string;
}

export type ReportFormat = 'table' | 'json' | 'csv';

export interface ReportDefinition<Result = unknown> {
  /** `report <name>`, `GET /reports/<name>`. */
  readonly name: string;
  readonly description: string;
  readonly params: readonly ReportParam[];
  /** What `--json` prints, in one line; documented where the report is. */
  readonly jsonShape: string;
  run(q: ReadQuery, params: ReportParams): Promise<ReportOutput<Result>>;
  /** The table printed without `--json` / `--csv`. */
  table(result: Result, params: ReportParams): string;
  /** `--csv`, when the report has one. */
  csv?(result: Result, params: ReportParams): string;
}

/** The formats a report can print. */
export function formatsOf(def: ReportDefinition): ReportFormat[] {
  return def.csv ? ['table', 'json', 'csv'] : ['table', 'json'];
}

/**
 * Raw values (CLI flags or a query string) to canonical parameters: defaults
 * filled, choices checked, `parse` applied. Unknown names are refused.
 */
export function resolveParams(def: ReportDefinition, raw: Readonly<Record<string, unknown>>, now = Date.now()): Record<string, string | undefined> {
  const known = new Map<string, string>();
  for (const p of def.params) for (const n of [p.name, ...(p.aliases ?? [])]) known.set(n, p.name);
  const given = new Map<string, unknown>();
  for (const k of Object.keys(raw)) {
    if (raw[k] === undefined) continue;
    const name = known.get(k);
    if (name === undefined) {
      throw new ReportParamError(`report ${def.name} has no parameter "${k}" (it takes: ${def.params.map((p) => p.name).join(', ') || 'none'})`);
    }
    if (given.has(name) && k !== name) continue; // the canonical name wins over an alias
    given.set(name, raw[k]);
  }
  const out: Record<string, string | undefined> = {};
  for (const p of def.params) {
    const g = given.get(p.name);
    let v = g === undefined || g === null || g === false || (p.flag && g === 'false') ? p.default : p.flag ? 'true' : String(g);
    if (v !== undefined && p.choices && !p.choices.includes(v)) {
      throw new ReportParamError(`invalid --${p.name} ${JSON.stringify(v)}: expected one of ${p.choices.join(', ')}`);
    }
    if (v !== undefined && p.parse) v = p.parse(v, now, out);
    out[p.name] = v;
  }
  return out;
}

/** The report's text in one format. */
export function renderReport<Result>(def: ReportDefinition<Result>, format: ReportFormat, result: Result, params: ReportParams): string {
  if (format === 'json') return JSON.stringify(result) + '\n';
  if (format === 'csv') {
    if (!def.csv) throw new ReportParamError(`report ${def.name} has no CSV form`);
    return def.csv(result, params);
  }
  return def.table(result, params);
}

/** The public description of a report (`GET /reports`). */
export function describeReport(def: ReportDefinition) {
  return {
    name: def.name,
    description: def.description,
    formats: formatsOf(def),
    json: def.jsonShape,
    params: def.params.map((p) => ({ name: p.name, description: p.description, choices: p.choices ?? null, default: p.default ?? null })),
  };
}

/** Every report of the given processors, by name; two processors declaring one name is a bug. */
export function reportRegistry(processors: readonly { name: string; reports?: readonly ReportDefinition[] }[]): Map<string, ReportDefinition> {
  const out = new Map<string, ReportDefinition>();
  for (const p of processors) {
    for (const r of p.reports ?? []) {
      if (out.has(r.name)) throw new Error(`report "${r.name}" is declared twice (processor ${p.name})`);
      out.set(r.name, r);
    }
  }
  return out;
}
