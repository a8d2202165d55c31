/**
 * Metrics a processor computes from its committed rows, for `GET /metrics`
 * (src/ops/metrics.ts). The daemon reads them at scrape time from a read-only
 * snapshot, and keeps the samples until the processor's next commit, so a
 * scrape between commits costs no query.
 *
 * The values are absolute (a sum over committed rows), published as counters
 * when they only grow with appends. A retraction (a rewritten or truncated
 * file) can lower one, which Prometheus reads as a counter reset.
 */
import type { ReadQuery } from '../state/read.js';

export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly labelNames: readonly string[];
}

export interface MetricSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ProcessorMetrics {
  readonly families: readonly MetricFamily[];
  /** Every family's samples, by family name, read in one snapshot. */
  read(q: ReadQuery): Promise<ReadonlyMap<string, readonly MetricSample[]>>;
}
