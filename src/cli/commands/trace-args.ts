/**
 * `trace <sessionFile>` takes session keys that begin with `-`: Claude Code names each
 * project directory after its path with `/` as `-` (`-home-me-src-app/<id>.jsonl`), so
 * every laptop key does. Commander reads such an argument as flags (`-home...` starts
 * with `-h`, help), so it is moved behind a `--` before parsing. An argument is the file,
 * not a flag, when it begins with a single `-` and names a path: it holds a `/` or ends
 * in `.jsonl`. An argv that has its own `--` is left as it is. Pure: argv in, argv out.
 */
export function traceArgv(argv: readonly string[]): string[] {
  const out = [...argv];
  if (out.includes('--')) return out;
  // argv: node, script, 'trace', ...
  const i = out.findIndex((a, n) => n >= 3 && looksLikeKey(a));
  if (i < 0) return out;
  const [key] = out.splice(i, 1);
  out.push('--', key);
  return out;
}

function looksLikeKey(a: string): boolean {
  return a.startsWith('-') && !a.startsWith('--') && a.length > 2 && (a.includes('/') || a.endsWith('.jsonl'));
}
