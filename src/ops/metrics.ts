/**
 * Prometheus metrics for a running daemon, on a registry of its own.
 *
 * Counters are fed by the daemon's typed events (src/pipeline/events.ts: hints,
 * coalesced hints, state-check decisions, run outcomes, commits, rescans), never by
 * parsing trace records, and by the committer's commit listener; gauges are read at
 * scrape time from the daemon, the committer and the lag tracker. Node's
 * default metrics are included, except that the `nodejs_eventloop_lag_*`
 * percentiles come from the daemon's own sampler (see below).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Daemon } from '../watch/daemon.js';
import type { DaemonEvents } from '../pipeline/events.js';
import { LOOP_SAMPLE_MS, netDelayMs, type OpsMonitor } from './monitor.js';
import type { MetricSample, ProcessorMetrics } from '../pipeline/metric.js';
import { withSnapshot } from '../state/read.js';

const P = 'session_pipeline_';

export interface Metrics {
  registry: Registry;
  close(): void;
}

/** A counter mirrored from a monotonic number the daemon keeps (incremented by the delta at scrape). */
function mirroredCounter(registry: Registry, name: string, help: string, read: () => number): void {
  let last = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read();
      if (v > last) this.inc(v - last);
      last = Math.max(last, v);
    },
  });
}

/** prom-client's histogram-derived loop gauges, by name suffix, as ms read from a histogram. */
const LOOP_GAUGES: [string, (h: OpsMonitor['loop']) => number][] = [
  ['min', (h) => netDelayMs(h.min)],
  ['max', (h) => netDelayMs(h.max)],
  ['mean', (h) => netDelayMs(h.mean)],
  ['stddev', (h) => h.stddev / 1e6], // a spread: the sampling period is not in it
  ['p50', (h) => netDelayMs(h.percentile(50))],
  ['p90', (h) => netDelayMs(h.percentile(90))],
  ['p99', (h) => netDelayMs(h.percentile(99))],
];

function loopDelayFromMonitor(registry: Registry, monitor: OpsMonitor): void {
  for (const [suffix, read] of LOOP_GAUGES) {
    const name = `nodejs_eventloop_lag_${suffix}_seconds`;
    registry.removeSingleMetric(name);
    new Gauge({
      name,
      help: `The ${suffix} of event-loop delay in seconds, sampled every ${LOOP_SAMPLE_MS} ms while the daemon has work`,
      registers: [registry],
      collect() {
        // An empty histogram reads NaN or a huge min.
        this.set(monitor.loop.count > 0 ? read(monitor.loop) / 1e3 : 0);
      },
    });
  }
}

/** How long one read of a processor's metrics may take before the scrape gives up on it. */
const PROCESSOR_METRICS_TIMEOUT_MS = 10_000;

/**
 * A processor's metric families (src/pipeline/metric.ts), read from a snapshot on the first
 * scrape after a commit of that processor: the samples are a pure function of committed rows,
 * so between its commits a scrape reuses them. A failed read is logged and shows no samples.
 */
function processorMetrics(registry: Registry, daemon: Daemon, processor: string, metrics: ProcessorMetrics, isClosed: () => boolean): void {
  const { pipeline } = daemon;
  let cached: Promise<ReadonlyMap<string, readonly MetricSample[]>> | null = null;
  pipeline.committer.onCommit((units) => {
    if (units.some((u) => u.checkpoint?.processorName === processor)) cached = null;
  });
  const load = () => {
    cached ??= withSnapshot(pipeline.db, { timeoutMs: PROCESSOR_METRICS_TIMEOUT_MS, limitName: 'the metrics time limit' }, (s) => metrics.read(s)).catch((err) => {
      cached = null;
      daemon.opts.log.warn({ processor, err: (err as Error).message }, 'processor metrics could not be read');
      return new Map();
    });
    return cached;
  };
  for (const family of metrics.families) {
    const Kind = family.type === 'counter' ? Counter : Gauge;
    new Kind({
      name: family.name,
      help: family.help,
      labelNames: [...family.labelNames],
      registers: [registry],
      async collect() {
        if (isClosed()) return;
        const samples = (await load()).get(family.name) ?? [];
        // Absolute values: a retraction can lower one (Prometheus sees a counter reset).
        this.reset();
        for (const s of samples) {
          if (this instanceof Counter) this.inc(s.labels, s.value);
          else (this as Gauge).set(s.labels, s.value);
        }
      },
    });
  }
}

export function createMetrics(daemon: Daemon, monitor: OpsMonitor): Metrics {
  const registry = new Registry();
  // prom-client's event-loop histogram is a timer that wakes the process at its precision,
  // forever: once a second cost an idle daemon ~0.2 % of a core (measured with 50k idle files),
  // a fifth of its budget. Its timer is set to an hour instead, its gauges are dropped, and the
  // same names are fed from the monitor's histogram, which samples only while there is work.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 3_600_000 });
  loopDelayFromMonitor(registry, monitor);
  const { pipeline } = daemon;
  const names = pipeline.processors.map((p) => p.name);
  const off: (() => void)[] = [];

  // ---- processors: info, work counters
  const info = new Gauge({ name: `${P}processor_info`, help: 'Registered processors (value 1)', labelNames: ['processor', 'version', 'settle_ms'], registers: [registry] });
  for (const p of pipeline.processors) info.set({ processor: p.name, version: String(p.version), settle_ms: String(p.settleMs ?? 0) }, 1);

  const perProcessor = (name: string, help: string) =>
    new Counter({ name: `${P}${name}`, help, labelNames: ['processor'], registers: [registry] });
  const bytesRead = perProcessor('bytes_read_total', 'Bytes of complete lines read per processor');
  const lines = perProcessor('lines_total', 'Lines handed to a processor');
  const malformed = perProcessor('malformed_lines_total', 'Malformed lines skipped and journaled, per processor');
  const items = perProcessor('items_total', 'Output items a processor produced');
  const failures = perProcessor('processor_failures_total', 'Runs that failed in the processor or its commit (not I/O)');
  const retries = perProcessor('retries_total', 'Failures recorded for a retry with backoff');
  const quarantines = perProcessor('quarantines_total', 'Files quarantined after too many failures');
  const runs = new Counter({ name: `${P}runs_total`, help: 'Runs per processor by change kind', labelNames: ['processor', 'kind'], registers: [registry] });
  for (const n of names) {
    for (const c of [bytesRead, lines, malformed, items, failures, retries, quarantines]) c.inc({ processor: n }, 0);
  }
  const committedSoFar = new Map<string, number>(names.map((n) => [n, 0]));
  new Counter({
    name: `${P}bytes_committed_total`,
    help: 'Bytes whose processing is committed (checkpoint offset advances), per processor',
    labelNames: ['processor'],
    registers: [registry],
    collect() {
      for (const n of names) {
        const v = monitor.tracker.bytesCommitted(n);
        const last = committedSoFar.get(n) ?? 0;
        this.inc({ processor: n }, Math.max(0, v - last));
        committedSoFar.set(n, Math.max(v, last));
      }
    },
  });

  // What the daemon's events feed (one listener, below).
  const events: DaemonEvents = {};
  events.ran = (r) => {
    const o = r.outcome;
    if (!o) return;
    const l = { processor: r.processor };
    runs.inc({ processor: r.processor, kind: o.kind });
    bytesRead.inc(l, o.bytesRead);
    lines.inc(l, o.lines);
    malformed.inc(l, o.badLines);
    items.inc(l, o.items);
    if (o.kind === 'error' && !o.ioError) failures.inc(l);
  };

  // ---- commits
  const commitSeconds = new Histogram({
    name: `${P}commit_duration_seconds`,
    help: 'Duration of one grouped commit transaction',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const commits = new Counter({ name: `${P}commits_total`, help: 'Committed transactions', registers: [registry] });
  const unitsC = new Counter({ name: `${P}committed_units_total`, help: 'Committed units of work', registers: [registry] });
  const rowsC = new Counter({ name: `${P}committed_rows_total`, help: 'Committed output rows', registers: [registry] });
  let closed = false;
  pipeline.committer.onCommit((units, ms) => {
    if (closed) return;
    commitSeconds.observe(ms / 1000);
    commits.inc();
    unitsC.inc(units.length);
    let rows = 0;
    for (const u of units) {
      rows += u.rowCount;
      const cp = u.checkpoint;
      if (!cp || !names.includes(cp.processorName)) continue;
      if (cp.status === 'retrying' && cp.attempts > 0) retries.inc({ processor: cp.processorName });
      if (cp.status === 'quarantined') quarantines.inc({ processor: cp.processorName });
    }
    rowsC.inc(rows);
  });
  new Gauge({
    name: `${P}last_commit_timestamp_seconds`,
    help: 'When the last commit succeeded (0 = none yet)',
    registers: [registry],
    collect() {
      this.set((pipeline.committer.stats.lastCommitAt ?? 0) / 1000);
    },
  });
  new Gauge({
    name: `${P}commit_pending_units`,
    help: 'Units staged for the next commit',
    registers: [registry],
    collect() {
      this.set(pipeline.committer.pendingUnits);
    },
  });

  const appendToCommit = new Histogram({
    name: `${P}append_to_commit_seconds`,
    help: 'From the hint that a file changed (append event, rescan) to the commit of its lines',
    labelNames: ['processor'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900],
    registers: [registry],
  });
  events.committed = (e) => appendToCommit.observe({ processor: e.processor }, (Date.now() - e.trace.at) / 1000);

  // ---- lag, retries, quarantine (gauges from the tracker)
  const lagGauge = (name: string, help: string, read: (n: string) => number) =>
    new Gauge({
      name: `${P}${name}`,
      help,
      labelNames: ['processor'],
      registers: [registry],
      collect() {
        for (const n of names) this.set({ processor: n }, read(n));
      },
    });
  lagGauge('lag_bytes', 'Bytes not yet committed: last-seen file sizes minus committed offsets', (n) => monitor.tracker.lag(n).lagBytes);
  lagGauge('lag_files', 'Files with changes not yet committed (excluding quarantined)', (n) => monitor.tracker.lag(n).lagFiles);
  lagGauge('oldest_pending_seconds', 'Age of the oldest uncommitted change (0 = none)', (n) => (monitor.tracker.lag(n).oldestPending?.ageMs ?? 0) / 1000);
  lagGauge('retrying_files', 'Files backing off after a processor failure', (n) => monitor.tracker.lag(n).retrying);
  lagGauge('quarantined_files', 'Files quarantined (need a requeue)', (n) => monitor.tracker.lag(n).quarantined);
  new Gauge({
    name: `${P}files_seen`,
    help: 'Session files currently known to exist (last rescan and events)',
    registers: [registry],
    collect() {
      this.set(monitor.tracker.filesSeen);
    },
  });
  new Gauge({
    name: `${P}health_status`,
    help: 'Overall health: 0 ok, 1 warning, 2 error',
    registers: [registry],
    collect() {
      const s = monitor.health().status;
      this.set(s === 'ok' ? 0 : s === 'warning' ? 1 : 2);
    },
  });

  // ---- queues
  const queueGauge = (name: string, help: string, key: 'running' | 'queued') =>
    new Gauge({
      name: `${P}${name}`,
      help,
      labelNames: ['processor'],
      registers: [registry],
      collect() {
        const q = daemon.status().queues;
        for (const n of names) this.set({ processor: n }, q[n]?.[key] ?? 0);
      },
    });
  queueGauge('queue_running', 'Files being processed now', 'running');
  queueGauge('queue_queued', 'Files waiting for a processing slot', 'queued');
  new Gauge({
    name: `${P}hints_pending`,
    help: 'Hints in the debounce or the state check',
    registers: [registry],
    collect() {
      this.set(daemon.status().hintsPending);
    },
  });

  // ---- leases (a shared store only)
  const leases = daemon.pipeline.leases;
  if (leases) {
    new Gauge({
      name: `${P}leases_holding`,
      help: 'Session files whose lease this node holds now',
      registers: [registry],
      collect() {
        this.set(leases.stats.holding);
      },
    });
    new Gauge({
      name: `${P}leases_expired`,
      help: 'Leases in the store not renewed in time and not released (a dead or stalled node), at the last heartbeat',
      registers: [registry],
      collect() {
        this.set(leases.stats.store?.expired ?? 0);
      },
    });
    mirroredCounter(registry, `${P}leases_taken_total`, 'Leases taken (or kept) for a run', () => leases.stats.taken);
    mirroredCounter(registry, `${P}leases_busy_total`, 'Runs skipped because another node held the file', () => leases.stats.busy);
    mirroredCounter(registry, `${P}leases_taken_over_total`, 'Files taken from another node (their checkpoints read again)', () => leases.stats.takenOver);
    mirroredCounter(registry, `${P}leases_lost_total`, 'Leases found taken by another node at a heartbeat', () => leases.stats.lost);
    mirroredCounter(registry, `${P}leases_fenced_total`, 'Runs whose commit was fenced off (lease lost, or checkpoint behind the store): nothing written', () => leases.stats.fenced);
  }

  // ---- watcher and hints
  mirroredCounter(registry, `${P}watcher_events_total`, 'File system events from the watcher', () => daemon.watcher.events);
  mirroredCounter(registry, `${P}watcher_errors_total`, 'Watcher errors (including ENOSPC / EMFILE overflow, which degrade to rescans)', () => daemon.watcher.errors);
  new Gauge({
    name: `${P}watcher_degraded`,
    help: '1 when the watcher degraded to rescan-only',
    registers: [registry],
    collect() {
      this.set(daemon.watcher.state === 'degraded' ? 1 : 0);
    },
  });
  new Gauge({
    name: `${P}watcher_watched_directories`,
    help: 'Directories under watch (one inotify watch each; files are not watched individually)',
    registers: [registry],
    collect() {
      this.set(daemon.watcher.watchedDirs);
    },
  });
  const hints = new Counter({ name: `${P}hints_total`, help: 'Hints raised, by source reason', labelNames: ['reason'], registers: [registry] });
  const coalesced = new Counter({ name: `${P}hints_coalesced_total`, help: 'Hints dropped as duplicates of a pending hint (debounce)', registers: [registry] });
  const unchanged = new Counter({ name: `${P}hints_unchanged_total`, help: 'Hints dropped by the state check (file as committed)', registers: [registry] });
  events.hint = (e) => hints.inc({ reason: e.reason });
  events.coalesced = () => coalesced.inc();
  // Only a file as committed: not a failed stat, not a file another node holds.
  events.stateChecked = (e) => {
    if (e.cause === 'unchanged') unchanged.inc();
  };
  mirroredCounter(registry, `${P}io_errors_total`, 'Files that could not be read (retried, never counted against a processor)', () => pipeline.counters.ioErrors);

  // ---- rescans
  const rescanSeconds = new Histogram({
    name: `${P}rescan_duration_seconds`,
    help: 'Duration of a full stat-only rescan',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const rescanFiles = new Gauge({ name: `${P}rescan_files`, help: 'Files found by the last rescan', registers: [registry] });
  events.rescanned = (r) => {
    rescanSeconds.observe(r.durationMs / 1000);
    rescanFiles.set(r.files);
  };
  off.push(daemon.events.listen(events));
  new Gauge({
    name: `${P}rescan_period_seconds`,
    help: 'The periodic rescan period now: --rescan-interval-ms, longer when a rescan costs more than 0.25 % of a core at it',
    registers: [registry],
    collect() {
      this.set(daemon.rescanPeriodMs / 1000);
    },
  });
  new Gauge({
    name: `${P}last_rescan_timestamp_seconds`,
    help: 'When the last rescan started (0 = none yet)',
    registers: [registry],
    collect() {
      this.set((daemon.lastRescan?.at ?? 0) / 1000);
    },
  });
  new Gauge({
    name: `${P}uptime_seconds`,
    help: 'Seconds since the daemon started',
    registers: [registry],
    collect() {
      this.set((Date.now() - daemon.startedAt) / 1000);
    },
  });

  // ---- processor metrics: from committed rows, read at scrape, kept until the processor's next commit
  for (const p of pipeline.processors) {
    if (p.metrics) processorMetrics(registry, daemon, p.name, p.metrics, () => closed);
  }

  return {
    registry,
    close() {
      closed = true;
      for (const f of off) f();
      registry.clear();
    },
  };
}
