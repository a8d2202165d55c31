/**
 * README's "How a line travels" is the map from the watcher to the commit: it names at most
 * ten files, each exists, and each is on the daemon's import graph (so the map cannot name a
 * file the code no longer goes through).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(__dirname, '..');

function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(REPO, file), 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]);
  return specs.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)).replace(/\.js$/, '.ts'));
}

function reachable(from: string): Set<string> {
  const seen = new Set<string>();
  const todo = [from];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f) || !fs.existsSync(path.join(REPO, f))) continue;
    seen.add(f);
    todo.push(...importsOf(f));
  }
  return seen;
}

describe('README: How a line travels', () => {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## How a line travels'), readme.indexOf('## Change classification'));
  // The numbered steps, watcher to commit (the `run --once` paragraph after them is another path).
  const steps = section.slice(0, section.indexOf('`run --once`'));
  const named = [...new Set([...steps.matchAll(/`(src\/[^`\s]+\.ts)`/g)].map((m) => m[1]))];

  it('names at most ten files, each one existing and on the daemon path', () => {
    expect(named.length).toBeGreaterThan(5);
    expect(named.length).toBeLessThanOrEqual(10);
    const path_ = reachable('src/watch/daemon.ts');
    for (const f of named) {
      expect(fs.existsSync(path.join(REPO, f)), f).toBe(true);
      expect(path_.has(f), `${f} is not imported (transitively) by src/watch/daemon.ts`).toBe(true);
    }
  });
});
