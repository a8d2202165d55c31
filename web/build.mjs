// Bundles the dashboard (web/src) into dist/web with esbuild: one script, one
// stylesheet (uPlot's CSS included), no CDN, so the page works offline.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', 'dist', 'web');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'assets'), { recursive: true });
await esbuild.build({
  entryPoints: { app: path.join(here, 'src', 'main.ts') },
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  outdir: path.join(out, 'assets'),
  logLevel: 'warning',
  legalComments: 'linked',
});
fs.copyFileSync(path.join(here, 'index.html'), path.join(out, 'index.html'));
