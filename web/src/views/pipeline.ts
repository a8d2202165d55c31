import { getJson, postJson } from '../api.js';
import { empty, h, section, table } from '../dom.js';
import { int, when } from '../format.js';
import type { ViewContext } from './context.js';

interface ProcessorHealth {
  status: string;
  version: number;
  lagBytes: number;
  lagFiles: number;
  oldestPending: { sessionFile: string; ageMs: number } | null;
  retrying: number;
  quarantined: number;
  lastCommitAt: string | null;
}
interface Health {
  status: string;
  reasons: string[];
  initialScan: string;
  processors: Record<string, ProcessorHealth>;
  watcher: { status: string; reason?: string; events: number; errors: number; watchedDirs: number };
  rescan: { lastAt: string | null; durationMs: number | null; files: number | null; hinted: number | null; intervalMs: number; running: boolean };
  commits: { lastAt: string | null; consecutiveFailures: number };
}
interface Status {
  queues: Record<string, { running: number; queued: number }>;
  committer: { transactions: number; units: number; rows: number; lastDurationMs: number };
  uptimeMs: number;
}
interface Troubled {
  processor: string;
  sessionFile: string;
  attempts: number;
  lastError: string | null;
  offset: number;
  nextAttemptAt: string | null;
}

/** The last requeue's outcome, kept across the redraw its own commit causes. */
let lastAction = '';

/** Pipeline state from /health, /status and /quarantine (in-memory on the daemon: no query). */
export async function renderPipeline(ctx: ViewContext): Promise<HTMLElement> {
  const tz = ctx.state.tz;
  const [health, status, q] = await Promise.all([
    getJson<Health>('/health'),
    getJson<Status>('/status'),
    getJson<{ quarantined: Troubled[]; retrying: Troubled[] }>('/quarantine'),
  ]);
  const procs = Object.entries(health.processors).map(([name, p]) => ({ name, ...p, queue: status.queues[name] }));
  const msg = h('p', { class: 'note', role: 'status', id: 'requeue-status' }, lastAction);
  const say = (text: string) => {
    lastAction = text;
    (document.getElementById('requeue-status') ?? msg).textContent = text;
  };
  const requeue = async (t: Troubled, btn: HTMLButtonElement) => {
    btn.disabled = true;
    try {
      const r = await postJson<{ count: number }>('/quarantine/requeue', { processor: t.processor, file: t.sessionFile });
      say(`requeued ${int(r.count)}: ${t.processor} ${t.sessionFile}`);
    } catch (err) {
      say(`requeue failed: ${(err as Error).message}`);
      btn.disabled = false;
    }
  };
  const troubled = (rows: Troubled[], testid: string, action: boolean) =>
    table<Troubled>(
      [
        { label: 'processor', value: (t) => t.processor },
        { label: 'file', value: (t) => t.sessionFile },
        { label: 'attempts', value: (t) => int(t.attempts), num: true },
        { label: 'offset', value: (t) => int(t.offset), num: true },
        { label: 'last error', value: (t) => t.lastError ?? '–' },
        { label: action ? 'action' : 'next attempt', value: (t) => (action ? h('button', { type: 'button', class: 'requeue', 'data-file': t.sessionFile, 'data-processor': t.processor, onclick: (e: Event) => void requeue(t, e.currentTarget as HTMLButtonElement) }, 'Requeue') : when(t.nextAttemptAt, tz)) },
      ],
      rows,
      { testid },
    );
  return h(
    'div',
    {},
    section(
      `Health: ${health.status}`,
      health.reasons.length ? h('ul', {}, health.reasons.map((r) => h('li', {}, r))) : null,
      table(
        [
          { label: 'watcher', value: () => `${health.watcher.status}${health.watcher.reason ? ` (${health.watcher.reason})` : ''}` },
          { label: 'watched dirs', value: () => int(health.watcher.watchedDirs), num: true },
          { label: 'initial scan', value: () => health.initialScan },
          { label: 'last rescan', value: () => when(health.rescan.lastAt, tz) },
          { label: 'rescan took', value: () => (health.rescan.durationMs === null ? '–' : `${int(health.rescan.durationMs)} ms`), num: true },
          { label: 'files', value: () => int(health.rescan.files), num: true },
          { label: 'commits/s (1 min)', value: () => (ctx.notice ? ctx.notice.commitsPerSecond.toFixed(2) : '–'), num: true },
          { label: 'transactions', value: () => int(status.committer.transactions), num: true },
          { label: 'last commit', value: () => when(health.commits.lastAt, tz) },
        ],
        [0],
        { testid: 'pipeline-state' },
      ),
    ),
    section(
      'Processors',
      table(
        [
          { label: 'processor', value: (p: (typeof procs)[number]) => p.name },
          { label: 'status', value: (p: (typeof procs)[number]) => p.status },
          { label: 'lag (bytes)', value: (p: (typeof procs)[number]) => int(p.lagBytes), num: true },
          { label: 'lag (files)', value: (p: (typeof procs)[number]) => int(p.lagFiles), num: true },
          { label: 'oldest pending', value: (p: (typeof procs)[number]) => (p.oldestPending ? `${p.oldestPending.sessionFile} (${int(Math.round(p.oldestPending.ageMs / 1000))} s)` : '–') },
          { label: 'running', value: (p: (typeof procs)[number]) => int(p.queue?.running ?? 0), num: true },
          { label: 'queued', value: (p: (typeof procs)[number]) => int(p.queue?.queued ?? 0), num: true },
          { label: 'retrying', value: (p: (typeof procs)[number]) => int(p.retrying), num: true },
          { label: 'quarantined', value: (p: (typeof procs)[number]) => int(p.quarantined), num: true },
          { label: 'last commit', value: (p: (typeof procs)[number]) => when(p.lastCommitAt, tz) },
        ],
        procs,
        { testid: 'processors' },
      ),
    ),
    section('Quarantined files', msg, q.quarantined.length ? troubled(q.quarantined, 'quarantined', true) : empty('No file is quarantined.')),
    section('Retrying', q.retrying.length ? troubled(q.retrying, 'retrying', false) : empty('No file is waiting for a retry.')),
  );
}
