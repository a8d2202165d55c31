/**
 * The layout shows the architecture: no import runs up a layer. Bottom to top:
 * the event-loop and logging helpers; read, state, discover and config; the
 * pipeline engine and the processor contract; the processors (pipelines/*);
 * the daemon (watch); operations (ops: admin API, metrics); the CLI.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(__dirname, '..');

const LAYERS: [prefix: string, layer: number][] = [
  ['src/loop/', 0],
  ['src/log.ts', 0],
  ['src/config/', 1],
  ['src/read/', 1],
  ['src/state/', 1],
  ['src/discover/', 1],
  ['src/pipeline/', 2],
  ['pipelines/', 3],
  ['src/watch/', 4],
  ['src/ops/', 5],
  ['src/cli/', 6],
];

function layerOf(file: string): number {
  const hit = LAYERS.find(([prefix]) => file === prefix || file.startsWith(prefix));
  if (!hit) throw new Error(`${file} is in no layer: add its folder to LAYERS`);
  return hit[1];
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(REPO, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

/** Relative imports of a module (static, dynamic and re-exports), as repository paths of .ts files. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(REPO, file), 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]);
  return specs.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)).replace(/\.js$/, '.ts'));
}

const edges = (files: readonly string[]): [string, string][] => files.flatMap((f) => importsOf(f).map((t): [string, string] => [f, t]));

function upward(imports: readonly [from: string, to: string][]): string[] {
  return imports.filter(([f, t]) => layerOf(t) > layerOf(f)).map(([f, t]) => `${f} -> ${t}`);
}

describe('layering', () => {
  const files = [...sources('src'), ...sources('pipelines')];

  it('finds the modules and their imports', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(importsOf('src/cli/commands/watch.ts')).toContain('src/ops/start-admin.ts');
  });

  it('no import runs up a layer', () => {
    expect(upward(edges(files))).toEqual([]);
  });

  it('processors import only the contract and below, never the daemon, ops or the CLI', () => {
    const bad = files
      .filter((f) => f.startsWith('pipelines/'))
      .flatMap((f) => importsOf(f).filter((t) => /^src\/(watch|ops|cli)\//.test(t)).map((t) => `${f} -> ${t}`));
    expect(bad).toEqual([]);
  });

  it('a processor imports no other processor: what two share lives in pipelines/shared', () => {
    const folder = (f: string) => /^pipelines\/([^/]+)\//.exec(f)?.[1];
    const bad = files
      .filter((f) => folder(f) && folder(f) !== 'shared')
      .flatMap((f) => importsOf(f).filter((t) => folder(t) && folder(t) !== folder(f) && folder(t) !== 'shared').map((t) => `${f} -> ${t}`));
    expect(bad).toEqual([]);
    expect(importsOf('pipelines/usage/redact.ts')).toContain('pipelines/shared/credentials/index.ts');
  });

  it('would catch an upward import', () => {
    // Imports that ran up before the layering was mended.
    const old: [string, string][] = [
      ['src/state/checkpoint.ts', 'src/pipeline/processor.ts'],
      ['src/ops/register.ts', 'src/cli/commands/watch.ts'],
      ['src/watch/daemon.ts', 'src/ops/admin.ts'],
      ['src/discover/walk.ts', 'src/discover/file-stat.ts'],
    ];
    expect(upward(old)).toEqual(['src/state/checkpoint.ts -> src/pipeline/processor.ts', 'src/ops/register.ts -> src/cli/commands/watch.ts', 'src/watch/daemon.ts -> src/ops/admin.ts']);
  });
});
