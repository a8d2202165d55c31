/**
 * The stat-only rescan, which is also the initial scan: the backstop for
 * whatever directory events miss (queue overflow, ENOSPC, a dropped event,
 * a filesystem inotify cannot see).
 *
 * Each file's lstat is judged as the walk meets it, by the state check's own
 * question (judgeFile), and nothing is kept per file: a rescan of 50k
 * unchanged files makes only short-lived garbage, and a file whose stat is as
 * last seen tells the lag tracker nothing new.
 *
 * What makes an idle rescan cheap is what it does not touch. A file whose
 * stat is as last seen, and whose processors had all caught up with it then,
 * cannot have work until its stat or a checkpoint changes, so its
 * checkpoints are not read again (the cache tells SeenFiles of each change).
 * Likewise, known files the walk did not meet are looked for only when some
 * were missed, and checkpointed files that are gone are kept in a small set
 * of those that may still have work (fed by checkpoint changes and by files
 * found gone), instead of every checkpoint being compared with the walk.
 */
import type { Pipeline } from '../pipeline/pipeline.js';
import { fileStatOf, type FileStat } from '../discover/file-stat.js';
import { steadyNow } from '../loop/clock.js';
import { isConfirmedMissing } from '../discover/walk.js';
import { hint, type FileHint } from './hint.js';
import { judgeFile, slotsOf } from './state-check.js';
import { CHANGED, SAME_CAUGHT_UP, type SeenDir, type SeenFiles } from './seen-files.js';
import type { CheckpointDir, Slots } from '../state/checkpoints.js';
import { performance } from 'node:perf_hooks';
import { rescanCostMs } from './backstop.js';

import type { RescanResult } from '../pipeline/events.js';

export type { RescanResult };

/** The session key a file's checkpoints hold (one interned string), if any has one. */
function keyOf(slots: Readonly<Slots> | undefined): string | undefined {
  if (slots) for (const cp of slots) if (cp) return cp.sessionFile;
  return undefined;
}

export class Rescanner {
  /**
   * Checkpointed files not among the seen ones (gone, or never met) whose checkpoints may
   * still give them work, e.g. a deletion whose retraction failed and waits for a retry.
   */
  private readonly unseen = new Set<string>();
  /** Compare every checkpointed file with the seen ones: at the first scan, and after the cache was cleared. */
  private fullPass = true;
  private readonly off: () => void;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly seen: SeenFiles,
    private readonly emit: (h: FileHint) => void,
    /** Told each stat that differs from the last seen, and null for known files the walk confirms are gone. */
    private readonly onStat: (sessionFile: string, stat: FileStat | null) => void,
  ) {
    this.off = pipeline.checkpoints.onChange((dir, name) => {
      if (dir === undefined || name === undefined) {
        this.seen.invalidateAll();
        this.fullPass = true;
      } else if (!this.seen.invalidate(dir, name)) {
        this.unseen.add(`${dir}/${name}`);
      }
    });
  }

  close(): void {
    this.off();
  }

  async run(reason: FileHint['reason']): Promise<RescanResult> {
    const started = Date.now();
    const cpu0 = process.cpuUsage();
    const { seen, emit, onStat } = this;
    const scan = seen.beginScan();
    const now = steadyNow(); // backoffs are judged on the monotonic clock (loop/clock)
    const { checkpoints, processors } = this.pipeline;
    const slotIndex = slotsOf(checkpoints, processors);
    let hinted = 0;
    // Per directory: its two tables, looked up once; per file: a probe by name in a small table.
    let lastDir: string | null = null;
    let seenDir: SeenDir | null = null;
    let cpDir: CheckpointDir | undefined;
    const walk = await this.pipeline.visit((dir, name, _absPath, stat) => {
      if (dir !== lastDir) {
        lastDir = dir;
        seenDir = seen.dir(dir);
        cpDir = undefined;
      }
      const note = seen.noteIn(seenDir!, name, stat);
      if (note === SAME_CAUGHT_UP) return;
      // Looked up again while the directory has none: its first may be committed while the walk yields.
      cpDir ??= checkpoints.dir(dir);
      const slots = cpDir?.get(name);
      const judged = judgeFile(slots, slotIndex, processors, stat, now);
      if (judged === 'caught-up') seen.caughtUpIn(seenDir!, name);
      if (note !== CHANGED && judged !== 'pending') return;
      // The checkpoints' own key when they have one: the lag tracker keeps the key it is told
      // for the file's life, and a key built here is two cons strings and the name (~100 bytes).
      const file = keyOf(slots) ?? `${dir}/${name}`;
      if (note === CHANGED) onStat(file, fileStatOf(stat));
      if (judged === 'pending') {
        emit(hint(file, reason));
        hinted++;
      }
    });

    const tail0 = performance.now();
    // Known files the walk did not meet: seen before but not during this scan, or checkpointed
    // and not seen (gone while the daemon was down, or since).
    const candidates = new Set(seen.unmet > 0 ? seen.notSeenIn(scan) : []);
    if (this.fullPass) {
      this.fullPass = false;
      checkpoints.forEachFile((dir, name) => {
        if (!seen.hasIn(dir, name)) this.unseen.add(`${dir}/${name}`);
      });
    }
    // Found gone by a state check since the last scan: its run may not have happened or held.
    for (const file of seen.takeForgotten()) this.unseen.add(file);
    for (const file of this.unseen) {
      if (seen.has(file)) this.unseen.delete(file); // back: the walk judges it
      else candidates.add(file);
    }
    for (const file of candidates) {
      if (!isConfirmedMissing(file, walk)) continue;
      if (seen.note(file, null)) onStat(file, null);
      const judged = judgeFile(checkpoints.ofFile(file), slotIndex, processors, null, now);
      if (judged === 'pending') {
        emit(hint(file, reason));
        hinted++;
      }
      // Gone for good as far as every processor knows: only a new checkpoint brings it back here.
      if (judged === 'caught-up') this.unseen.delete(file);
      else this.unseen.add(file);
    }
    const root = walk.rootMissing ? 'missing' : walk.rootNotDir ? 'not-dir' : 'dir';
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = rescanCostMs((cpu.user + cpu.system) / 1000, walk.busyMs + performance.now() - tail0);
    return { files: walk.fileCount, hinted, durationMs: Date.now() - started, cpuMs: Math.round(cpuMs * 10) / 10, root };
  }
}
