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
import { hasPendingWork } from './state-check.js';
import type { SeenFiles } from './seen-files.js';

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
  let hinted = 0;
  const walk = await pipeline.visit((ref, _absPath, stat) => {
    const file = ref.sessionFile;
    if (seen.note(file, stat)) onStat(file, stat);
    if (hasPendingWork(checkpoints, processors, file, stat, now)) {
      emit(hint(file, reason));
      hinted++;
    }
  });

  // Known files the walk did not meet: seen before but not during this scan, or checkpointed
  // and never seen (gone while the daemon was down).
  const candidates = new Set(seen.notSeenIn(scan));
  checkpoints.forEachSessionFile((file) => {
    if (!seen.has(file)) candidates.add(file);
  });
  for (const file of candidates) {
    if (!isConfirmedMissing(file, walk)) continue;
    if (seen.note(file, null)) onStat(file, null);
    if (hasPendingWork(checkpoints, processors, file, null, now)) {
      emit(hint(file, reason));
      hinted++;
    }
  }
  return { files: walk.fileCount, hinted, durationMs: Date.now() - started };
}
