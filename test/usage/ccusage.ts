/**
 * ccusage 20.0.24 (the pinned native binary) as a reference for the usage
 * tests: run as a child process on a sandbox's root, its JSON parsed.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CORPUS, REPO, type Sandbox } from '../helpers.js';

const INSTALLED = path.join(REPO, 'node_modules', '@ccusage', 'ccusage-linux-x64', 'bin', 'ccusage');
export const haveCcusage = fs.existsSync(INSTALLED);
if (!haveCcusage) {
  console.warn(`ccusage: SKIPPED, no ccusage binary at ${INSTALLED} (npm ci installs @ccusage/ccusage-linux-x64@20.0.24 on linux-x64)`);
}

let bin: string | null = null;
/** npm unpacks the native package without the executable bit when no package `bin` links it: run a copy. */
function ccusageBin(): string {
  if (!bin) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-ccusage-bin-'));
    bin = path.join(dir, 'ccusage');
    fs.copyFileSync(INSTALLED, bin);
    fs.chmodSync(bin, 0o755);
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return bin;
}

/** ccusage's JSON for `args`, on a Claude config dir whose `projects/` is `root`. */
export async function ccusageJson(root: string, configDir: string, args: string[]): Promise<any> {
  fs.mkdirSync(configDir, { recursive: true });
  const projects = path.join(configDir, 'projects');
  if (!fs.existsSync(projects)) fs.symlinkSync(root, projects);
  const { stdout } = await promisify(execFile)(ccusageBin(), [...args, '--json', '--offline'], {
    env: { ...process.env, CLAUDE_CONFIG_DIR: configDir, TZ: 'UTC', NO_COLOR: '1' },
    maxBuffer: 64 << 20,
  });
  return JSON.parse(stdout);
}

/**
 * The real corpus in `sb`'s root with every line re-serialized compactly: ccusage skips lines
 * written as JSON with spaces after the colons (the hand-made claude-code-log files), which this
 * pipeline counts (docs/usage.md). Returns how many lines changed.
 */
export function writeCompactCorpus(sb: Sandbox): number {
  let respaced = 0;
  for (const f of fs.readdirSync(CORPUS, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.jsonl'))) {
    const lines = fs.readFileSync(path.join(CORPUS, f), 'utf8').split('\n').filter((l) => l.trim() !== '');
    const compact = lines.map((l) => {
      try {
        const c = JSON.stringify(JSON.parse(l));
        if (c !== l) respaced++;
        return c;
      } catch {
        return l;
      }
    });
    sb.write(f.split(path.sep).join('/'), compact.join('\n') + '\n');
  }
  return respaced;
}

/** A `daily` row of either tool as [day, input, output, cache creation, cache read, cost to 6 decimals]. */
export const dailyRow = (d: Record<string, any>) => [
  d.key ?? d.period,
  d.input_tokens ?? d.inputTokens,
  d.output_tokens ?? d.outputTokens,
  d.cache_creation_tokens ?? d.cacheCreationTokens,
  d.cache_read_tokens ?? d.cacheReadTokens,
  Math.round((d.cost_usd ?? d.totalCost) * 1e6) / 1e6,
];
