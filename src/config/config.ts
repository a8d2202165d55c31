/**
 * Configuration: one table of settings, each settable by a CLI flag and an
 * environment variable (flag wins), validated by zod. A bad value fails with
 * one line naming the setting, its flag and its variable.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { isValidSourceName } from '../discover/session-path.js';
import { displayLocation, storeKindOf } from '../state/dialect.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * A whole number from a flag or a variable. Not z.coerce: it takes '' and '  ' as 0 (so
 * `--admin-port ''` meant "any free port") and says "expected number, received NaN".
 */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.union([z.number(), z.string()]).transform((v, ctx) => {
    const s = typeof v === 'number' ? String(v) : v.trim();
    const n = /^[+-]?\d+$/.test(s) ? Number(s) : NaN;
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: s === '' ? `is empty; give a whole number ${range}` : `must be a whole number ${range}` });
      return z.NEVER;
    }
    return n;
  });
/** One of a fixed set of words, with a message that lists them. */
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.string().transform((v, ctx) => {
    const s = v.trim();
    if ((values as readonly string[]).includes(s)) return s as T[number];
    ctx.addIssue({ code: 'custom', message: `must be one of ${values.join(', ')}` });
    return z.NEVER;
  });
const bool = z
  .union([z.boolean(), z.string()])
  .transform((v, ctx) => {
    if (typeof v === 'boolean') return v;
    const s = v.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(s)) return true;
    if (['0', 'false', 'no', 'off'].includes(s)) return false;
    ctx.addIssue({ code: 'custom', message: 'must be on or off (true/false, yes/no, 1/0)' });
    return z.NEVER;
  });
const nonEmpty = z.string().trim().min(1, 'must not be empty');

export type WatcherSource = 'inotify' | 'chokidar' | 'off';
/** `on` (and the old boolean spellings) is the platform's default source. */
export const DEFAULT_WATCHER: WatcherSource = process.platform === 'linux' ? 'inotify' : 'chokidar';
const watcherSource = z.union([z.boolean(), z.string()]).transform((v, ctx): WatcherSource => {
  const s = String(v).trim().toLowerCase();
  if (s === 'inotify' || s === 'chokidar' || s === 'off') return s;
  if (['on', 'true', '1', 'yes'].includes(s)) return DEFAULT_WATCHER;
  if (['false', '0', 'no'].includes(s)) return 'off';
  ctx.addIssue({ code: 'custom', message: 'expected inotify, chokidar, off or on' });
  return z.NEVER;
});

/**
 * The per-user data directory (XDG Base Directory): `$XDG_DATA_HOME`, else `~/.local/share`.
 * One database per user whatever the working directory: `./data/...` made a report run
 * elsewhere find no database and a `watch` started elsewhere build a second one.
 */
export function defaultDbPath(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string {
  const xdg = env.XDG_DATA_HOME;
  // The spec: a relative XDG_DATA_HOME is invalid and is ignored.
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(home, '.local', 'share');
  return path.join(base, 'session-pipeline', 'session-pipeline.duckdb');
}

function defaultRoot(): string {
  const claude = path.join(os.homedir(), '.claude', 'projects');
  return fs.existsSync(claude) ? claude : path.resolve('sessions');
}

/**
 * One setting: a flag, an environment variable, a validator and a default.
 * The core's are below; a processor declares its own the same way
 * (`ProcessorDefinition.settings`), and the CLI merges them all.
 */
export interface Setting<T> {
  flag: string;
  env: string;
  schema: z.ZodType<T>;
  default: () => unknown;
  describe: string;
  /** Masked in /status and in error messages. */
  secret?: boolean;
  /** How /status and error messages show a value (a URL without its password). */
  shown?: (v: unknown) => unknown;
  /** Only `watch` takes it (e.g. a settle delay); `run --once` does not offer the flag. */
  watchOnly?: boolean;
}

export function setting<T>(s: Setting<T>): Setting<T> {
  return s;
}

/** Building blocks for settings' schemas. */
export const settingSchemas = {
  int,
  bool,
  nonEmpty,
  /** A path, resolved against the working directory; '' stays '' (not set). */
  optionalPath: z.string().transform((p) => (p ? path.resolve(p) : '')),
};

export const SETTINGS = {
  root: setting({
    flag: '--root <dir>',
    env: 'SESSION_ROOT',
    schema: nonEmpty.transform((p) => path.resolve(p)),
    default: defaultRoot,
    describe: 'session root: <root>/<owner>/<session>.jsonl (default ~/.claude/projects, else ./sessions)',
  }),
  db: setting({
    flag: '--db <file|url>',
    env: 'SESSION_PIPELINE_DB',
    // A postgres:// URL is PostgreSQL's, kept as given (path.resolve made it a directory `postgres:`).
    schema: nonEmpty.transform((p, ctx) => {
      if (p === ':memory:') return p;
      if (storeKindOf(p) !== 'postgres') return path.resolve(p);
      try {
        new URL(p);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not a valid postgres:// URL' });
        return z.NEVER;
      }
      return p;
    }),
    default: () => defaultDbPath(),
    describe:
      'DuckDB database file, or a postgres:// / postgresql:// URL for a PostgreSQL store (default $XDG_DATA_HOME/session-pipeline/session-pipeline.duckdb, else ~/.local/share/...)',
    shown: (v) => displayLocation(String(v)),
  }),
  pgPoolMax: setting({
    flag: '--pg-pool-max <n>',
    env: 'SESSION_PIPELINE_PG_POOL_MAX',
    schema: int(1, 100),
    default: () => 4,
    describe: 'PostgreSQL store: connections for reads (reports, sql, export, /metrics) besides the one writer',
  }),
  dbThreads: setting({
    flag: '--db-threads <n|auto>',
    env: 'SESSION_PIPELINE_DB_THREADS',
    schema: z.union([z.literal('auto'), int(1, 256)]),
    default: () => 'auto',
    describe: 'DuckDB store: threads its queries may use (auto = 1 for watch, so a report cannot starve commits; one per core for run --once)',
  }),
  processors: setting({
    flag: '--processors <list>',
    env: 'SESSION_PIPELINE_PROCESSORS',
    schema: z
      .string()
      .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
      .pipe(z.array(z.string().regex(/^[a-z][a-z0-9_-]*$/, 'processor names are lowercase words')).min(1, 'name at least one processor, or "all"')),
    default: () => 'all',
    describe: 'comma-separated processors to run, or "all"',
  }),
  workers: setting({
    flag: '--workers <n|auto>',
    env: 'SESSION_PIPELINE_WORKERS',
    schema: z.union([z.literal('auto'), int(0, 64)]),
    default: () => 'auto',
    describe: 'run --once: worker threads that read, parse and process (0 = none; auto = one per core, up to 4, when >= 256 MiB are pending)',
  }),
  logLevel: setting({
    flag: '--log-level <level>',
    env: 'SESSION_PIPELINE_LOG_LEVEL',
    schema: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    default: () => 'info',
    describe: 'pino log level',
  }),
  logDest: setting({
    flag: '--log-dest <where>',
    env: 'SESSION_PIPELINE_LOG_DEST',
    schema: oneOf(['stderr', 'stdout', 'split']),
    default: () => 'stderr',
    describe: 'watch: where logs go: stderr, stdout, or split (info and below to stdout, warnings and errors to stderr)',
  }),
  maxLineBytes: setting({
    flag: '--max-line-bytes <n>',
    env: 'SESSION_PIPELINE_MAX_LINE_BYTES',
    schema: int(1024),
    default: () => 32 * 1024 * 1024,
    describe: 'lines longer than this are skipped and recorded',
  }),
  maxAttempts: setting({
    flag: '--max-attempts <n>',
    env: 'SESSION_PIPELINE_MAX_ATTEMPTS',
    schema: int(1, 1000),
    default: () => 5,
    describe: 'processor failures on a file before it is quarantined',
  }),
  retryBaseMs: setting({
    flag: '--retry-base-ms <ms>',
    env: 'SESSION_PIPELINE_RETRY_BASE_MS',
    schema: int(0),
    default: () => 5000,
    describe: 'first retry delay; doubles per failure',
  }),
  rescanIntervalMs: setting({
    flag: '--rescan-interval-ms <ms>',
    env: 'SESSION_PIPELINE_RESCAN_INTERVAL_MS',
    schema: int(100),
    default: () => 60_000,
    describe: 'watch: full stat-only rescan period',
  }),
  quietMs: setting({
    flag: '--quiet-ms <ms>',
    env: 'SESSION_PIPELINE_QUIET_MS',
    schema: int(0),
    // 100 ms coalesces a burst of lines (one message's content blocks come within a few ms);
    // the group commit behind it coalesces the rest. Each ms here is a ms less of group interval
    // within the latency budget (daemon.ts). bench:live-cost, 200 live files: with 250 ms and the
    // old 250 ms ceiling, 4 commits a second (27.6 % of a core, append -> commit p99 544 ms);
    // with 100 ms the interval grows to ~650 ms (1.7 a second, 19.5 %, p99 803 ms).
    default: () => 100,
    describe: 'watch: per-file debounce',
  }),
  maxWaitMs: setting({
    flag: '--max-wait-ms <ms>',
    env: 'SESSION_PIPELINE_MAX_WAIT_MS',
    schema: int(1),
    default: () => 2000,
    describe: 'watch: a file changing continuously is still processed this often',
  }),
  concurrency: setting({
    flag: '--concurrency <n>',
    env: 'SESSION_PIPELINE_CONCURRENCY',
    schema: int(1, 1024),
    // A run holds its file until its commit lands, so most runs in flight are waiting on DuckDB,
    // not working: with 4, 200 live files queued behind commits for seconds.
    default: () => 32,
    describe: 'watch: runs working at once per processor (a run waiting only for its commit does not count)',
  }),
  watcher: setting({
    flag: '--watcher <source>',
    env: 'SESSION_PIPELINE_WATCHER',
    schema: watcherSource,
    default: () => 'on',
    describe: 'watch: change events from inotify (per-directory fs.watch, the default on Linux), chokidar (the default elsewhere) or off (rescans only); on = the platform default',
  }),
  watchPollMs: setting({
    flag: '--watch-poll-ms <ms>',
    env: 'SESSION_PIPELINE_WATCH_POLL_MS',
    schema: int(0),
    default: () => 0,
    describe: 'watch: with --watcher chokidar, poll each file every N ms instead of native events (network filesystems); 0 = native events',
  }),
  drainTimeoutMs: setting({
    flag: '--drain-timeout-ms <ms>',
    env: 'SESSION_PIPELINE_DRAIN_TIMEOUT_MS',
    schema: int(0),
    default: () => 1200,
    describe: 'watch: on shutdown, finish in-flight work for at most this long',
  }),
  sourceName: setting({
    flag: '--source-name <name>',
    env: 'SESSION_PIPELINE_SOURCE_NAME',
    // A shared store qualifies session keys by it (`<source>:<owner>/<session>.jsonl`); see discover/session-path.ts.
    schema: nonEmpty.refine((s) => isValidSourceName(s), "must not contain ':', '/' or control characters (at most 200 characters)"),
    default: () => os.hostname(),
    describe: "PostgreSQL store: whose transcripts these are; session keys are stored as <source>:<key>. Every node of one shared root uses the same name (default the hostname)",
  }),
  nodeName: setting({
    flag: '--node-name <name>',
    env: 'SESSION_PIPELINE_NODE_NAME',
    schema: nonEmpty,
    default: () => `${os.hostname()}:${process.pid}`,
    describe: 'PostgreSQL store: who holds a lease; unique per running process (default <hostname>:<pid>)',
  }),
  leaseTtlMs: setting({
    flag: '--lease-ttl-ms <ms>',
    env: 'SESSION_PIPELINE_LEASE_TTL_MS',
    schema: int(300, 3_600_000),
    default: () => 30_000,
    describe: "PostgreSQL store: a node's lease on a file lapses this long after its last renewal (renewed every third of it); another node then takes the file over",
  }),
  adminHost: setting({
    flag: '--admin-host <host>',
    env: 'SESSION_PIPELINE_ADMIN_HOST',
    schema: nonEmpty,
    default: () => '127.0.0.1',
    describe: 'admin API bind address (non-loopback requires a token)',
  }),
  adminPort: setting({
    flag: '--admin-port <port>',
    env: 'SESSION_PIPELINE_ADMIN_PORT',
    schema: int(0, 65535),
    default: () => 7370,
    describe: 'admin API port (0 picks a free port)',
  }),
  adminToken: setting({
    flag: '--admin-token <token>',
    env: 'SESSION_PIPELINE_ADMIN_TOKEN',
    // A blank token would "protect" the API with a value anyone can guess (and the client trims it to nothing).
    schema: z
      .string()
      .refine((t) => t === '' || t.trim() !== '', 'must not be blank (whitespace only); unset it for no token')
      .transform((t) => t.trim()),
    default: () => '',
    describe: 'bearer token for the admin API',
    secret: true,
  }),
  healthStuckMs: setting({
    flag: '--health-stuck-ms <ms>',
    env: 'SESSION_PIPELINE_HEALTH_STUCK_MS',
    schema: int(1),
    default: () => 5 * 60_000,
    describe: 'health: warning when a change has been pending this long',
  }),
  healthLagBytes: setting({
    flag: '--health-lag-bytes <n>',
    env: 'SESSION_PIPELINE_HEALTH_LAG_BYTES',
    schema: int(0),
    default: () => 1024 * 1024 * 1024,
    describe: 'health: warning when a processor lags by more bytes than this (0 = off)',
  }),
  healthLagFiles: setting({
    flag: '--health-lag-files <n>',
    env: 'SESSION_PIPELINE_HEALTH_LAG_FILES',
    schema: int(0),
    default: () => 0,
    describe: 'health: warning when a processor lags by more files than this (0 = off)',
  }),
} as const;

export type SettingName = keyof typeof SETTINGS;
export type SettingsTable = Readonly<Record<string, Setting<unknown>>>;
/**
 * The core's settings, typed, plus whatever the processors declared (by their
 * config keys, e.g. `pricing`, `secretsSettleMs`), which each processor reads
 * through its own schema.
 */
export type Config = { [K in SettingName]: z.output<(typeof SETTINGS)[K]['schema']> } & { readonly [key: string]: unknown };

/** The camelCase property commander gives a flag like `--max-line-bytes <n>`. */
export function flagProperty(flag: string): string {
  const long = flag.split(' ')[0].replace(/^--/, '');
  return long.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The settings table a config was loaded with, kept on the config under a
 * symbol (enumerable, so `{ ...config, quietMs: 50 }` keeps it; JSON ignores
 * it): /status shows and masks processor settings it knows nothing about.
 */
const SETTINGS_OF = Symbol('settings');

/**
 * Load `settings` (the core's, or the core's merged with the processors') from
 * flags and environment. With `only`, a bad value of another setting does not
 * fail the load (a report needs `--db`, not a valid admin port).
 */
export function loadConfig(
  flags: Record<string, unknown> = {},
  env: NodeJS.ProcessEnv = process.env,
  only?: readonly string[],
  settings: SettingsTable = SETTINGS,
): Config {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(settings)) {
    const s = settings[name];
    const fromFlag = flags[flagProperty(s.flag)];
    const fromEnv = env[s.env];
    const raw = fromFlag !== undefined ? fromFlag : fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined;
    const value = raw !== undefined ? raw : s.default();
    const parsed = s.schema.safeParse(value);
    if (!parsed.success) {
      if (only && !only.includes(name)) continue;
      const why = parsed.error.issues[0]?.message ?? 'invalid';
      const shown = s.secret ? '***' : JSON.stringify(s.shown ? s.shown(value) : value);
      throw new ConfigError(`invalid ${name} (${s.flag.split(' ')[0]} / ${s.env}): ${shown}: ${why}`);
    }
    out[name] = parsed.data;
  }
  Object.defineProperty(out, SETTINGS_OF, { value: settings, enumerable: true });
  return out as Config;
}

/** The config with secrets masked, for /status and logs: only declared settings, never a stray key. */
export function maskedConfig(c: Config): Record<string, unknown> {
  const settings: SettingsTable = ((c as Record<symbol, unknown>)[SETTINGS_OF] as SettingsTable | undefined) ?? SETTINGS;
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(settings)) {
    const v = c[name];
    if (v === undefined) continue;
    out[name] = settings[name].secret && v ? '***' : settings[name].shown ? settings[name].shown!(v) : v;
  }
  return out;
}
