/** Sum main-thread GC pauses over a span of work (perf_hooks 'gc' entries). */
import { PerformanceObserver, constants as perf } from 'node:perf_hooks';

export interface GcTotals {
  ms: number;
  major_ms: number;
  count: number;
}

export function gcMeter(): { stop(): Promise<GcTotals> } {
  const gc: GcTotals = { ms: 0, major_ms: 0, count: 0 };
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.ms += e.duration;
      gc.count++;
      if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === perf.NODE_PERFORMANCE_GC_MAJOR) gc.major_ms += e.duration;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  return {
    async stop() {
      // Entries are delivered asynchronously, a few loop turns after the pause; let them arrive.
      await new Promise((r) => setTimeout(r, 50));
      obs.disconnect();
      return { ms: Math.round(gc.ms), major_ms: Math.round(gc.major_ms), count: gc.count };
    },
  };
}
