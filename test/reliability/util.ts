/**
 * Helpers for the reliability suite: captured logs, an unprivileged child
 * (the suite runs as root, which ignores chmod 000), peak memory of a child,
 * and a tmpfs that can be filled.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { pino, type Logger } from 'pino';
import { CLI } from '../helpers.js';

export interface LogEntry {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A pino logger whose lines are kept, parsed, for assertions. */
export function captureLog(level = 'debug'): { log: Logger; entries: LogEntry[]; warnings: () => LogEntry[] } {
  const entries: LogEntry[] = [];
  const log = pino(
    { level },
    {
      write(s: string) {
        for (const l of s.split('\n')) if (l.trim()) entries.push(JSON.parse(l) as LogEntry);
      },
    },
  );
  return { log, entries, warnings: () => entries.filter((e) => e.level >= 40) };
}

export const NOBODY = { uid: 65534, gid: 65534 };
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Make a path (and its parents up to `upTo`) traversable by anyone, and give `owned` to nobody. */
export function shareWithNobody(upTo: string, owned: string[]): void {
  for (let p = upTo; ; p = path.dirname(p)) {
    const st = fs.statSync(p);
    if ((st.mode & 0o005) !== 0o005) fs.chmodSync(p, st.mode | 0o005);
    if (p === path.dirname(p) || p === os.tmpdir()) break;
  }
  for (const o of owned) chownR(o, NOBODY.uid, NOBODY.gid);
}

function chownR(p: string, uid: number, gid: number): void {
  fs.lchownSync(p, uid, gid);
  if (fs.lstatSync(p).isDirectory()) for (const e of fs.readdirSync(p)) chownR(path.join(p, e), uid, gid);
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident set (VmHWM) in bytes, sampled from /proc until exit; 0 if unavailable. */
  peakRss: number;
}

/** The CLI as a child; optionally as nobody, optionally under a shell prefix (e.g. `ulimit -n 40`). */
export function cli(
  args: string[],
  opts: { asNobody?: boolean; shell?: string; env?: Record<string, string>; home?: string } = {},
): Promise<ChildResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('SESSION_')) env[k] = v;
  Object.assign(env, opts.env ?? {});
  if (opts.home) env.HOME = opts.home;
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const child: ChildProcess = opts.shell
    ? spawn('bash', ['-c', `${opts.shell}; exec ${[process.execPath, CLI, ...args].map(quote).join(' ')}`], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(opts.asNobody ? NOBODY : {}),
      })
    : spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], ...(opts.asNobody ? NOBODY : {}) });
  let stdout = '';
  let stderr = '';
  let peakRss = 0;
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const sample = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peakRss = Math.max(peakRss, Number(m[1]) * 1024);
    } catch {
      // gone
    }
  };
  const timer = setInterval(sample, 20);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      resolve({ code, signal, stdout, stderr, peakRss });
    });
  });
}

/** Parsed pino lines from a child's stderr (non-JSON lines are kept as `msg`). */
export function logLines(stderr: string): LogEntry[] {
  return stderr
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l) as LogEntry;
      } catch {
        return { level: 0, msg: l };
      }
    });
}

/** Mount a small tmpfs (needs CAP_SYS_ADMIN); null if this environment cannot. */
export function mountTmpfs(dir: string, size: string): (() => void) | null {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0777`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return null;
  }
  return () => {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  };
}

/** Fill a filesystem to the last byte. */
export function fillUp(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (let size = chunk.length; size >= 1; ) {
      try {
        fs.writeSync(fd, chunk, 0, size);
      } catch {
        size = Math.floor(size / 2);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}
