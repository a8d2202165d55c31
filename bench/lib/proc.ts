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
