/**
 * bench/live-cost's reference: the least a tailer can do for the same appends.
 * One fs.watch per directory (as the daemon's inotify source), and on each
 * event for a session file, read what was appended since the last read and
 * JSON.parse each complete line. No state, no database, no debounce.
 *
 *   node dist/bench/live-tail-ref.js <root>
 * Prints `{"lines":N}` to stdout on SIGTERM.
 */
import fs from 'node:fs';
import path from 'node:path';

const root = process.argv[2];
const offsets = new Map<string, number>();
const partial = new Map<string, string>();
let lines = 0;
const buf = Buffer.allocUnsafe(1 << 20);

function drain(file: string): void {
  let pos = offsets.get(file) ?? 0;
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return;
  }
  try {
    let rest = partial.get(file) ?? '';
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      pos += n;
      const text = rest + buf.toString('utf8', 0, n);
      const parts = text.split('\n');
      rest = parts.pop() ?? '';
      for (const l of parts) {
        if (!l) continue;
        JSON.parse(l);
        lines++;
      }
    }
    offsets.set(file, pos);
    partial.set(file, rest);
  } finally {
    fs.closeSync(fd);
  }
}

for (const owner of fs.readdirSync(root)) {
  const dir = path.join(root, owner);
  // Start at each file's current end: only appends made from now on are the reference's work.
  for (const f of fs.readdirSync(dir)) if (f.endsWith('.jsonl')) offsets.set(path.join(dir, f), fs.statSync(path.join(dir, f)).size);
  fs.watch(dir, (_event, name) => {
    if (name && String(name).endsWith('.jsonl')) drain(path.join(dir, String(name)));
  });
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  process.stdout.write(JSON.stringify({ lines }) + '\n', () => process.exit(0));
});
