/**
 * Charts with uPlot (about 50 KB, canvas, fast with thousands of points; see
 * docs/dashboard.md for why not ECharts): bars per day, stacked by a series,
 * and lines. Every chart on the page also has its numbers in a table.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
export const color = (i: number) => PALETTE[i % PALETTE.length];

export interface Series {
  label: string;
  values: (number | null)[];
}

export interface ChartSpec {
  /** Local dates, YYYY-MM-DD, one per x value. */
  days: string[];
  /** Instead of days: epoch seconds (UTC), one per x value. */
  times?: number[];
  series: Series[];
  kind: 'stacked-bars' | 'lines';
  format: (v: number) => string;
  height?: number;
}

const live = new Set<uPlot>();

/** Charts of the previous render, before the view redraws. */
export function destroyCharts(): void {
  for (const u of live) u.destroy();
  live.clear();
}

const daySeconds = (d: string) => Date.parse(`${d}T00:00:00Z`) / 1000;

export function chart(spec: ChartSpec): HTMLElement {
  const el = document.createElement('div');
  el.className = 'chart';
  el.setAttribute('role', 'img');
  el.setAttribute('aria-label', `${spec.series.map((s) => s.label).join(', ')} per day; the numbers are in the table below`);
  // Drawn once the element is in the page and has a width.
  requestAnimationFrame(() => draw(el, spec));
  return el;
}

function draw(el: HTMLElement, spec: ChartSpec): void {
  if (!el.isConnected) return;
  const xs = spec.times ?? spec.days.map(daySeconds);
  const raw = spec.series.map((s) => s.values.map((v) => v ?? 0));
  let ys: number[][] = raw;
  if (spec.kind === 'stacked-bars') {
    // uPlot has no stacking: draw cumulative sums, the largest first, so each bar shows its own band.
    const cum: number[][] = [];
    raw.forEach((vals, i) => cum.push(vals.map((v, j) => v + (i > 0 ? cum[i - 1][j] : 0))));
    ys = cum.reverse();
  }
  const labels = spec.kind === 'stacked-bars' ? [...spec.series].reverse() : spec.series;
  const rawFor = spec.kind === 'stacked-bars' ? [...raw].reverse() : raw;
  const styles = getComputedStyle(document.documentElement);
  const fg = styles.getPropertyValue('--fg').trim() || '#222';
  const grid = styles.getPropertyValue('--grid').trim() || '#ddd';
  const bars = uPlot.paths.bars!({ size: [0.8, 60], align: 0 });
  const n = spec.series.length;
  const u = new uPlot(
    {
      width: Math.max(320, el.clientWidth || 800),
      height: spec.height ?? 260,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
      scales: { x: { time: true } },
      axes: [
        { stroke: fg, grid: { stroke: grid }, ticks: { stroke: grid } },
        { stroke: fg, grid: { stroke: grid }, ticks: { stroke: grid }, size: 80, values: (_u, vals) => vals.map((v) => spec.format(v)) },
      ],
      legend: { live: true },
      series: [
        { label: spec.times ? 'time (UTC)' : 'day', value: (_u, v) => (v === null ? '–' : new Date(v * 1e3).toISOString().slice(0, spec.times ? 19 : 10).replace('T', ' ')) },
        ...labels.map((s, i) => {
          const c = color(spec.kind === 'stacked-bars' ? n - 1 - i : i);
          return {
            label: s.label,
            stroke: c,
            fill: spec.kind === 'stacked-bars' ? c : undefined,
            width: spec.kind === 'stacked-bars' ? 0 : 2,
            paths: spec.kind === 'stacked-bars' ? bars : undefined,
            points: { show: spec.kind === 'lines' && xs.length < 40 },
            value: (_u: uPlot, _v: number | null, _si: number, idx: number | null) => (idx === null ? '–' : spec.format(rawFor[i][idx] ?? 0)),
          };
        }),
      ],
    },
    [xs, ...ys],
    el,
  );
  live.add(u);
}
