/**
 * Summarise a V8 `.cpuprofile` (from `node --cpu-prof`): self time per
 * function and per source file, so a bench can say where the time goes.
 */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Time with a JS stack (not idle, not GC, not "(program)"). */
  busyMs: number;
  functions: SelfTime[];
  files: SelfTime[];
  /** Inclusive time of selected functions (any frame on the stack). */
  inclusive: SelfTime[];
}

function shortUrl(url: string, root?: string): string {
  if (!url) return '(native)';
  let u = url.replace(/^file:\/\//, '');
  if (root && u.startsWith(root)) u = path.relative(root, u);
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) u = u.slice(nm + 'node_modules/'.length);
  return u;
}

/**
 * @param inclusiveOf function-name patterns whose inclusive time to report
 *   (a sample counts once for a pattern if any frame on its stack matches).
 */
export function summarizeProfile(file: string, opts: { root?: string; top?: number; inclusiveOf?: RegExp[] } = {}): ProfileSummary {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of prof.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const selfUs = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i + 1] ?? 0; // a sample's duration is the gap to the next one
    selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + dt);
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const files = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const cf = n.callFrame;
    const special = cf.functionName.startsWith('(') && !cf.url;
    if (special && /idle|program|garbage/.test(cf.functionName)) idleUs += cf.functionName === '(garbage collector)' ? 0 : us;
    const name = cf.functionName.length > 60 ? `${cf.functionName.slice(0, 57)}...` : cf.functionName;
    const key = special ? cf.functionName : `${name || '(anonymous)'} ${shortUrl(cf.url, opts.root)}:${cf.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const fk = special ? cf.functionName : shortUrl(cf.url, opts.root);
    files.set(fk, (files.get(fk) ?? 0) + us);
  }
  const inclusive: SelfTime[] = [];
  for (const re of opts.inclusiveOf ?? []) {
    let us = 0;
    for (const [id, t] of selfUs) {
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        if (re.test(byId.get(cur)!.callFrame.functionName)) {
          us += t;
          break;
        }
      }
    }
    inclusive.push({ name: re.source, ms: us / 1000, share: totalUs ? us / totalUs : 0 });
  }
  const top = opts.top ?? 20;
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: totalUs ? us / totalUs : 0 }));
  return { totalMs: totalUs / 1000, busyMs: (totalUs - idleUs) / 1000, functions: rank(fn), files: rank(files), inclusive };
}

/** The newest `.cpuprofile` in a directory. */
export function newestProfile(dir: string): string | null {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return files[0] ?? null;
}
