/**
 * The stat-only rescan, which is also the initial scan: the backstop for
 * whatever directory events miss (queue overflow, ENOSPC, a dropped event,
 * a filesystem inotify cannot see).
 *
 * Each file's lstat is judged as the walk meets it, by the state check's own
 * question (hasPendingWork), and nothing is kept per file: a rescan of 50k
 * unchanged files makes only short-lived garbage, and a file whose stat is as
 * last seen tells the lag tracker nothing new.
 */
import type { Pipeline } from '../pipeline/pipeline.js';
import type { FileStat } from '../state/classify.js';
import { isConfirmedMissing } from '../discover/walk.js';
import { hint, type FileHint } from './hint.js';
import { hasPendingWork, slotsOf } from './state-check.js';
import type { SeenDir, SeenFiles } from './seen-files.js';
import type { CheckpointDir } from '../pipeline/checkpoint-cache.js';

export interface RescanResult {
  files: number;
  hinted: number;
  durationMs: number;
}

export async function rescan(
  pipeline: Pipeline,
  emit: (h: FileHint) => void,
  reason: FileHint['reason'],
  seen: SeenFiles,
  /** Told each stat that differs from the last seen, and null for known files the walk confirms are gone. */
  onStat: (sessionFile: string, stat: FileStat | null) => void,
): Promise<RescanResult> {
  const started = Date.now();
  const scan = seen.beginScan();
  const now = Date.now();
  const { checkpoints, processors } = pipeline;
  const slotIndex = slotsOf(checkpoints, processors);
  let hinted = 0;
  // Per directory: its two tables, looked up once; per file: two probes by name in small tables.
  let lastDir: string | null = null;
  let seenDir: SeenDir | null = null;
  let cpDir: CheckpointDir | undefined;
  const walk = await pipeline.visit((dir, name, _absPath, stat) => {
    if (dir !== lastDir) {
      lastDir = dir;
      seenDir = seen.dir(dir);
      cpDir = undefined;
    }
    const changed = seen.noteIn(seenDir!, name, stat);
    // Looked up again while the directory has none: its first may be committed while the walk yields.
    cpDir ??= checkpoints.dir(dir);
    const pending = hasPendingWork(cpDir?.get(name), slotIndex, processors, stat, now);
    if (!changed && !pending) return;
    const file = `${dir}/${name}`;
    if (changed) onStat(file, { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino });
    if (pending) {
      emit(hint(file, reason));
      hinted++;
    }
  });

  // Known files the walk did not meet: seen before but not during this scan, or checkpointed
  // and never seen (gone while the daemon was down).
  const candidates = new Set(seen.notSeenIn(scan));
  checkpoints.forEachFile((dir, name) => {
    if (!seen.hasIn(dir, name)) candidates.add(`${dir}/${name}`);
  });
  for (const file of candidates) {
    if (!isConfirmedMissing(file, walk)) continue;
    if (seen.note(file, null)) onStat(file, null);
    if (hasPendingWork(checkpoints.ofFile(file), slotIndex, processors, null, now)) {
      emit(hint(file, reason));
      hinted++;
    }
  }
  return { files: walk.fileCount, hinted, durationMs: Date.now() - started };
}
