/**
 * What the core fills in and checks when processors are registered: the
 * defaults of the contract (migrations from the declared tables, a retract
 * that deletes the file's rows) and the rules a set of processors must keep
 * (one stream per name, one owner per table, a version the checkpoint can
 * hold). A broken set fails at start with one line, as bad configuration.
 */
import { ConfigError, SETTINGS, type Config, type Setting, type SettingsTable } from '../config/config.js';
import type { Migration } from '../state/migrations.js';
import { quoteIdent, tablesMigration } from '../state/table.js';
import { BAD_LINES_TABLE, CHECKPOINT_TABLE } from '../state/checkpoint.js';
import type { Processor, ProcessorDefinition, ProcessorTx } from './processor.js';

const NAME = /^[a-z][a-z0-9_-]*$/;
/** `session_processor_state.processor_version` is an INTEGER. */
const MAX_VERSION = 2 ** 31 - 1;
const CORE_TABLES = new Set([CHECKPOINT_TABLE.name, BAD_LINES_TABLE.name]);
/** Migration components of the core (state/schema.ts) and the admin API (ops/audit.ts). */
const RESERVED = new Set(['core', 'ops']);

/** The processor's migrations, or version 1 creating its declared tables. */
export function migrationsOf(p: Processor): readonly Migration[] {
  return p.migrations ?? (p.tables.length > 0 ? [tablesMigration(p.tables)] : []);
}

/** Stage the retraction of everything `p` wrote for the file: its own `retract`, or the default. */
export function retractFile(p: Processor, sessionFile: string, tx: ProcessorTx): void | Promise<void> {
  if (p.retract) return p.retract(sessionFile, tx);
  for (const t of p.tables) tx.run(`DELETE FROM ${quoteIdent(t.name)} WHERE session_file = $1`, [sessionFile]);
}

/** Throws a ConfigError naming the first rule a set of processors breaks. */
export function validateProcessors(processors: readonly Processor[]): void {
  const names = new Set<string>();
  const owners = new Map<string, string>();
  for (const p of processors) {
    const who = `processor ${JSON.stringify(p.name)}`;
    if (typeof p.name !== 'string' || !NAME.test(p.name)) throw new ConfigError(`${who}: a name is a lowercase word ([a-z][a-z0-9_-]*)`);
    if (RESERVED.has(p.name)) throw new ConfigError(`${who}: the name is reserved for the core`);
    if (names.has(p.name)) throw new ConfigError(`${who} is registered twice (each processor runs once per file)`);
    names.add(p.name);
    if (!Number.isSafeInteger(p.version) || p.version < 1 || p.version > MAX_VERSION) {
      throw new ConfigError(`${who}: version must be a positive integer up to ${MAX_VERSION}, got ${JSON.stringify(p.version)}`);
    }
    for (const t of p.tables) {
      if (CORE_TABLES.has(t.name)) throw new ConfigError(`${who}: table ${t.name} belongs to the core`);
      const owner = owners.get(t.name);
      if (owner !== undefined) {
        throw new ConfigError(`${who}: table ${t.name} is already declared by ${owner === p.name ? 'this processor' : `processor "${owner}"`}`);
      }
      owners.set(t.name, p.name);
      const cols = new Set(t.columns.map((c) => c.name));
      for (const k of t.key) if (!cols.has(k)) throw new ConfigError(`${who}: table ${t.name}: key column ${k} is not declared`);
      if (!p.retract && !cols.has('session_file')) {
        throw new ConfigError(`${who}: table ${t.name} has no session_file column, so the default retract cannot clear it; give the processor a retract`);
      }
    }
  }
}

export type Mode = 'run' | 'watch';

/** The settings the registered processors declare, for one mode (watch-only ones are left out of `run`). */
export function processorSettings(defs: readonly ProcessorDefinition<any>[], mode: Mode): SettingsTable {
  validateDefinitions(defs);
  const out: Record<string, Setting<unknown>> = {};
  for (const d of defs) {
    for (const [key, s] of settingsOf(d)) if (mode === 'watch' || !s.watchOnly) out[key] = s;
  }
  return out;
}

/**
 * The processors `config.processors` names ("all" = every registered one),
 * each built from its settings: values the config holds, defaults for the
 * rest (a watch-only setting under `run`).
 */
export function selectProcessors(defs: readonly ProcessorDefinition<any>[], config: Config): Processor[] {
  validateDefinitions(defs);
  const byName = new Map(defs.map((d) => [d.name, d]));
  const wanted = config.processors.includes('all') ? [...byName.keys()] : config.processors;
  const where = '(--processors / SESSION_PIPELINE_PROCESSORS)';
  const seen = new Set<string>();
  const out: Processor[] = [];
  for (const n of wanted) {
    const d = byName.get(n);
    if (!d) throw new ConfigError(`invalid processors ${where}: unknown processor "${n}" (known: ${[...byName.keys()].join(', ')})`);
    if (seen.has(n)) throw new ConfigError(`invalid processors ${where}: "${n}" is listed twice`);
    seen.add(n);
    const values: Record<string, unknown> = { root: config.root };
    for (const [key, s] of settingsOf(d)) values[key] = key in config ? config[key] : s.schema.parse(s.default());
    const p = d.create(values as never);
    if (p.name !== d.name) throw new ConfigError(`processor "${d.name}" creates a processor named "${p.name}"`);
    out.push(p);
  }
  validateProcessors(out);
  return out;
}

/** Registered definitions: unique names, and settings whose keys, flags and variables clash with nothing. */
export function validateDefinitions(defs: readonly ProcessorDefinition<any>[]): void {
  const names = new Set<string>();
  const keys = new Map<string, string>(Object.keys(SETTINGS).map((k) => [k, 'the core']));
  const flags = new Map<string, string>(Object.values(SETTINGS).map((s) => [s.flag.split(' ')[0], 'the core']));
  const envs = new Map<string, string>(Object.values(SETTINGS).map((s) => [s.env, 'the core']));
  /** A Setting object declared by several processors is one setting (one value for all), not a clash. */
  const shared = new Set<Setting<unknown>>();
  const claim = (m: Map<string, string>, what: string, value: string, by: string, s?: Setting<unknown>) => {
    const owner = m.get(value);
    if (owner !== undefined && !(s && shared.has(s))) throw new ConfigError(`processor "${by}": ${what} ${value} is already declared by ${owner}`);
    m.set(value, owner ?? `processor "${by}"`);
  };
  for (const d of defs) {
    if (!NAME.test(d.name) || RESERVED.has(d.name)) throw new ConfigError(`processor ${JSON.stringify(d.name)}: not a valid processor name`);
    if (names.has(d.name)) throw new ConfigError(`processor "${d.name}" is registered twice`);
    names.add(d.name);
    for (const [key, s] of settingsOf(d)) {
      claim(keys, 'setting', key, d.name, s);
      claim(flags, 'flag', s.flag.split(' ')[0], d.name, s);
      claim(envs, 'environment variable', s.env, d.name, s);
      shared.add(s);
    }
    const reports = new Set<string>();
    for (const r of d.reports ?? []) {
      if (!NAME.test(r.name) || reports.has(r.name)) throw new ConfigError(`processor "${d.name}": report ${JSON.stringify(r.name)} is not a unique lowercase word`);
      reports.add(r.name);
    }
  }
}

const settingsOf = (d: ProcessorDefinition<any>): [string, Setting<unknown>][] => Object.entries((d.settings ?? {}) as SettingsTable);
