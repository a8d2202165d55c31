/**
 * bench:latency's load, shared by the benches that measure append -> commit
 * under it (bench:latency in-process, bench:scale-out per store from outside):
 * a tree of idle small cold files next to empty live ones, a writer process
 * appending one stamped line a second to each live file (bench/latency-writer.ts),
 * the probe processor that records each stamped line with its commit
 * transaction's time, and the read of those latencies back from the store.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { Config } from '../../src/config/config.js';
import type { Processor } from '../../src/pipeline/processor.js';
import { selectProcessors } from '../../pipelines/index.js';
import { makeRng, newContext, sessionLines } from './corpus.js';
import { probeProcessor } from './probe.js';
import { REPO_ROOT } from './report.js';
import { queryStore } from './store.js';

/** Idle files: small, realistic, cold (mtime a day ago), spread over 100 owners; live files empty. Returns the live files. */
export function buildLatencyTree(root: string, o: { live: number; idle: number }): string[] {
  const rng = makeRng(7);
  const past = new Date(Date.now() - 86_400_000);
  for (let i = 0; i < 100; i++) fs.mkdirSync(path.join(root, `owner${i}`), { recursive: true });
  for (let i = 0; i < o.idle; i++) {
    const gen = sessionLines(rng, newContext(rng, `/Users/idle/p${i % 100}`), { maxResult: 512 });
    const text = [gen.next().value, gen.next().value, gen.next().value].join('\n') + '\n';
    const f = path.join(root, `owner${i % 100}`, `idle-${i}.jsonl`);
    fs.writeFileSync(f, text);
    fs.utimesSync(f, past, past);
  }
  const live: string[] = [];
  for (let i = 0; i < o.live; i++) {
    const f = path.join(root, `owner${i % 100}`, `live-${i}.jsonl`);
    fs.writeFileSync(f, '');
    live.push(f);
  }
  return live;
}

/** The live processors and the probe. The secrets processor settles for 30 s by design: it is not live, so it is not measured. */
export function latencyProcessors(config: Config): Processor[] {
  return [...selectProcessors({ ...config, processors: config.processors.filter((p) => p !== 'secrets') }).filter((p) => p.name !== 'secrets'), probeProcessor];
}

/** The writer as its own process (its timers must not share the daemon's event loop); resolves when it is done. */
export function runLatencyWriter(dir: string, live: string[], seconds: number): { pid: number; done: Promise<{ appended: number }> } {
  const filesJson = path.join(dir, 'live.json');
  fs.writeFileSync(filesJson, JSON.stringify(live));
  const writer = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'bench', 'latency-writer.js'), filesJson, String(seconds)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  writer.stdout.on('data', (d) => (out += d));
  const done = new Promise<{ appended: number }>((resolve, reject) =>
    writer.on('exit', (code) => (code === 0 ? resolve({ appended: JSON.parse(out.trim()).appended as number }) : reject(new Error(`latency writer exited ${code}`)))),
  );
  return { pid: writer.pid!, done };
}

/**
 * Append -> commit of every probed line, in ms, sorted: the commit transaction's time as the store
 * stamped it (`current_timestamp`, the transaction's start, on either store) minus the writer's stamp.
 */
export async function probeLatencies(db: string): Promise<number[]> {
  const rows = await queryStore<{ lat: number }>(db, 'SELECT extract(epoch FROM committed_at) * 1000 - appended_at_ms AS lat FROM bench_probe');
  return rows.map((r) => Number(r.lat)).sort((a, b) => a - b);
}
