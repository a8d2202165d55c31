/**
 * CPU time and load from /proc, for benches on a shared machine: wall time
 * stretches with other work, CPU seconds much less, so both are printed, with
 * the load average beside them (Linux; `null` where /proc is not there).
 */
import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second of /proc's CPU fields. */
export const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function statFields(file: string): string[] {
  const stat = fs.readFileSync(file, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU ms (utime + stime) of a running process or thread, from its stat file. */
export function procCpuMs(pid: number, file = `/proc/${pid}/stat`): number {
  const f = statFields(file);
  return ((Number(f[11]) + Number(f[12])) / TICKS) * 1000;
}

/** CPU ms of this process's waited-for children (cutime + cstime); null without /proc. */
export function childrenCpuMs(): number | null {
  try {
    const f = statFields('/proc/self/stat');
    return ((Number(f[13]) + Number(f[14])) / TICKS) * 1000;
  } catch {
    return null;
  }
}

/** `load 1.23 / 0.98 / 0.77 on 2 cpus`: printed next to wall-clock figures. */
export function loadLine(): string {
  const [a, b, c] = os.loadavg();
  return `load ${a.toFixed(2)} / ${b.toFixed(2)} / ${c.toFixed(2)} on ${os.cpus().length} cpus`;
}

/**
 * CPU ms a PostgreSQL server has used so far, from outside: the postmaster's own time, that of
 * its children already reaped (cutime + cstime: backends of connections that closed), and that of
 * its live children (backends, the checkpointer, the WAL writer). null without /proc or the pid file.
 */
export function pgServerCpuMs(dataDir: string): number | null {
  let postmaster: number;
  try {
    postmaster = Number(fs.readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
    const f = statFields(`/proc/${postmaster}/stat`);
    let ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    for (const e of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const c = statFields(`/proc/${e}/stat`);
        // Field 4 (ppid) is at 1 after the comm field.
        if (Number(c[1]) === postmaster) ticks += Number(c[11]) + Number(c[12]);
      } catch {
        // ended meanwhile
      }
    }
    return (ticks / TICKS) * 1000;
  } catch {
    return null;
  }
}

/**
 * CPU ms of a process split into its main (JS) thread and every other thread (DuckDB, libuv, GC),
 * and by thread name (`/proc/<pid>/task/<tid>/comm`: "libuv-worker", "V8 DefaultWorke", DuckDB's
 * unnamed threads carry the process name).
 */
export function threadCpuMs(pid: number): { main: number; other: number; byName: Record<string, number> } {
  let main = 0;
  let other = 0;
  const byName: Record<string, number> = {};
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = statFields(`/proc/${pid}/task/${tid}/stat`);
      const user = (Number(f[11]) / TICKS) * 1000;
      const system = (Number(f[12]) / TICKS) * 1000;
      if (Number(tid) === pid) {
        main += user + system;
        byName.main = user + system;
        byName['main:system'] = system;
      } else {
        other += user + system;
        byName[`${fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()}:${tid}`] = user + system;
      }
    } catch {
      // a thread that ended meanwhile
    }
  }
  return { main, other, byName };
}

/** Per thread name, the CPU between two `threadCpuMs` samples as a percentage of a core over `ms`. */
export function threadSharePct(before: Record<string, number>, after: Record<string, number>, ms: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(after)) {
    const pct = Math.round(((v - (before[name] ?? 0)) / ms) * 1000) / 10;
    if (pct > 0) out[name] = pct;
  }
  return out;
}
