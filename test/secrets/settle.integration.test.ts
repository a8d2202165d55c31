/**
 * The settle policy in watch mode: a secret appended to a live file is found
 * only once the file has been quiet for settleMs, while the usage processor
 * keeps processing the same file live.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { sandbox, silentLog, waitFor, line, type Sandbox } from '../helpers.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { startDaemon, type Daemon } from '../../src/watch/daemon.js';
import { createUsageProcessor } from '../../pipelines/usage/index.js';
import { createSecretsProcessor } from '../../pipelines/secrets/index.js';
import { fakes } from './fakes.js';

const SETTLE_MS = 1500;
let sb: Sandbox;
let daemon: Daemon | null = null;
afterEach(async () => {
  await daemon?.stop();
  daemon = null;
  sb?.cleanup();
});

let n = 0;
const assistant = () =>
  line({
    type: 'assistant',
    timestamp: new Date().toISOString(),
    requestId: `req_${++n}`,
    message: {
      id: `msg_${n}`,
      role: 'assistant',
      model: 'claude-sonnet-4-20250514',
      content: [{ type: 'text', text: `step ${n}` }],
      usage: { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    },
  });

describe('secrets settle policy (watch mode)', () => {
  it('finds a secret only after the quiet period while usage stays live', async () => {
    sb = sandbox('sp-secrets-settle-');
    const config: Config = {
      ...loadConfig({}, { SESSION_ROOT: sb.root, SESSION_PIPELINE_DB: sb.db }),
      quietMs: 50,
      maxWaitMs: 300,
      rescanIntervalMs: 600_000,
      secretsSettleMs: SETTLE_MS,
    };
    const file = 'alice/live.jsonl';
    const abs = sb.write(file, assistant());
    daemon = await startDaemon({ config, processors: [createUsageProcessor(), createSecretsProcessor(config)], log: silentLog });
    const d = daemon;
    await new Promise((r) => setTimeout(r, 400)); // the watcher's directory watches

    const size = () => fs.statSync(abs).size;
    const offsetOf = (p: string) => d.pipeline.checkpoints.get(p, file)?.offset ?? 0;
    const findings = async () => (await d.pipeline.db.all('SELECT * FROM secret_findings')).length;
    await waitFor(() => offsetOf('usage') === size(), 5000);

    const secret = fakes(5).ghp;
    const secretOffset = size();
    sb.append(file, line({ type: 'user', timestamp: new Date().toISOString(), message: { role: 'user', content: `use ${secret}` } }));

    // A live burst: an assistant message every 250 ms for 3 s, so the file is never quiet for
    // 1.5 s. A poller watches both processors meanwhile.
    const appends: { at: number; end: number; seenAt?: number }[] = [];
    // Committed offsets from the checkpoint cache (no queries competing with commits): findings
    // commit with the secrets offset, so none exists while that offset is before the secret line.
    let burst = true;
    let secretsOffsetDuringBurst = 0;
    const poller = (async () => {
      while (burst) {
        const usageAt = offsetOf('usage');
        for (const a of appends) if (a.seenAt === undefined && usageAt >= a.end) a.seenAt = Date.now();
        secretsOffsetDuringBurst = Math.max(secretsOffsetDuringBurst, offsetOf('secrets'));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const burstEnd = Date.now() + 3000;
    while (Date.now() < burstEnd) {
      await new Promise((r) => setTimeout(r, 250));
      sb.append(file, assistant());
      appends.push({ at: Date.now(), end: size() });
    }
    const lastAppend = appends[appends.length - 1].at;
    await waitFor(() => offsetOf('usage') >= appends[appends.length - 1].end, 5000, 10);
    burst = false;
    await poller;
    for (const a of appends) a.seenAt ??= Date.now();

    // usage processed each append within its debounce and max-wait, while secrets waited.
    const worstUsageLag = Math.max(...appends.map((a) => a.seenAt! - a.at));
    expect(worstUsageLag).toBeLessThan(SETTLE_MS);
    expect(secretsOffsetDuringBurst).toBeLessThanOrEqual(secretOffset);
    expect(await findings()).toBe(0);
    const messages = await d.pipeline.db.all<{ n: bigint }>('SELECT count(*) AS n FROM usage_messages WHERE session_file = $1', [file]);
    expect(Number(messages[0].n)).toBe(n);

    // Once quiet: found, and not before the quiet period.
    await waitFor(() => offsetOf('secrets') > secretOffset, 10_000, 10);
    const foundAfter = Date.now() - lastAppend;
    expect(foundAfter).toBeGreaterThanOrEqual(SETTLE_MS - 50);
    const rows = await d.pipeline.db.all<{ byte_offset: bigint; line_number: bigint; rule: string; location: string }>(
      'SELECT byte_offset, line_number, rule, location FROM secret_findings',
    );
    expect(rows.map((r) => [Number(r.byte_offset), Number(r.line_number), r.rule, r.location])).toEqual([
      [secretOffset, 2, 'github-token', 'user_text'],
    ]);
    // Nothing skipped: secrets reached the end of the file in one settled pass.
    await waitFor(() => offsetOf('secrets') === size(), 3000);
  });
});
