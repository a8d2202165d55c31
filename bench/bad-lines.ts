/**
 * bench:bad-lines: what bad lines cost in `run --once`, next to good lines, measured from
 * outside the process: CPU time (utime + stime) and peak RSS (VmHWM) from /proc, sampled
 * every 20 ms until the child exits. 1M lines of `x` (2 MB) against 1M small JSON objects,
 * default processors, each on a fresh database. Before the bound on session_bad_lines and
 * the JSON.parse shortcut: 488 s wall and 1.1 GB, next to 18 s and 315 MB for the good lines.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { printTable, REPO_ROOT, round } from './lib/report.js';

const LINES = Number(process.env.BENCH_LINES ?? 1_000_000);
const TICK = 100; // sysconf(_SC_CLK_TCK) on Linux

interface Measured {
  wallS: number;
  cpuS: number;
  peakMb: number;
  code: number | null;
}

function sample(pid: number): { cpuS: number; hwmKb: number } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuS = (Number(fields[11]) + Number(fields[12])) / TICK; // utime, stime
    const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuS, hwmKb: hwm ? Number(hwm[1]) : 0 };
  } catch {
    return null;
  }
}

async function runOnce(root: string, db: string): Promise<Measured> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js'), 'run', '--once', '--root', root, '--db', db, '--log-level', 'error'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let last = { cpuS: 0, hwmKb: 0 };
  const timer = setInterval(() => {
    // A zombie's status has no VmHWM: keep the highest of the samples taken while it ran.
    const s = sample(child.pid!);
    if (s) last = { cpuS: Math.max(last.cpuS, s.cpuS), hwmKb: Math.max(last.hwmKb, s.hwmKb) };
  }, 20);
  const code = await new Promise<number | null>((res) => child.on('exit', res));
  clearInterval(timer);
  return { wallS: (performance.now() - t0) / 1000, cpuS: last.cpuS, peakMb: last.hwmKb / 1024, code };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-bench-bad-'));
try {
  const rows: Record<string, string | number>[] = [];
  for (const [name, text] of [
    ['good: {"a":1}', '{"a":1}\n'],
    ['bad: x', 'x\n'],
  ] as const) {
    const root = path.join(dir, name.startsWith('good') ? 'good' : 'bad');
    fs.mkdirSync(path.join(root, 'a'), { recursive: true });
    fs.writeFileSync(path.join(root, 'a', 's.jsonl'), text.repeat(LINES));
    const m = await runOnce(root, path.join(root, 'db.duckdb'));
    if (m.code !== 0) throw new Error(`run --once exited ${m.code}`);
    rows.push({ lines: `${LINES.toLocaleString('en-US')} ${name}`, 'wall s': round(m.wallS), 'CPU s': round(m.cpuS), 'peak RSS MB': round(m.peakMb, 0) });
  }
  printTable('run --once, default processors: bad lines next to good lines (from /proc, outside the process)', rows);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
