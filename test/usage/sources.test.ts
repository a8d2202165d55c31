/**
 * A report reads the folded tables when no key is noted in its snapshot, the views otherwise
 * (pipelines/usage/sources.ts). Both must give every report the same result: here, on the real
 * corpus (one session copied under a second owner, so messages and events have two copies),
 * each usage report's JSON once folded (the tables) and again with every message key and event
 * id noted (the views then apply the rule to every row, as they do after a backfill).
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyCorpus, runOnceIn, sandboxOn, STORES, type Sandbox } from '../helpers.js';
import { createUsageProcessor } from '../../pipelines/usage/index.js';
import { builtInReports } from '../../pipelines/index.js';
import { sourcesOf } from '../../pipelines/usage/sources.js';
import { resolveParams } from '../../src/pipeline/report.js';
import { openStore } from '../../src/state/open.js';
import { num } from '../../src/state/row-values.js';
import { epochMsOf } from '../../src/state/dialect.js';

describe.each(STORES)('report sources on %s', (store) => {
  let sb: Sandbox;
  beforeEach(async () => {
    sb = await sandboxOn(store, 'sp-sources-');
  });
  afterEach(() => sb.cleanup());

  it('every usage report is the same from the folded tables as from the views', async () => {
    copyCorpus(sb);
    fs.cpSync(sb.file('sniffly'), sb.file('sniffly-copy'), { recursive: true });
    // run --once ends with a fold: no key is noted.
    await runOnceIn(sb, [createUsageProcessor()]);

    const db = await openStore(sb.db);
    try {
      const [edge] = await db.all<Record<string, unknown>>(
        `SELECT min(${epochMsOf(db.kind, 'first_ts')}) AS lo, max(${epochMsOf(db.kind, 'first_ts')}) AS hi, min(first_owner) AS owner,
           min(first_owner || '/' || first_session_id || '.jsonl') AS session FROM usage_message_picks`,
      );
      const hi = num(edge.hi);
      const midDay = new Date((num(edge.lo) + hi) / 2).toISOString().slice(0, 10);
      const owner = String(edge.owner);
      const cases: [string, Record<string, string>][] = [
        ...['day', 'week', 'month', 'session', 'owner', 'model'].flatMap((by): [string, Record<string, string>][] => [
          ['usage', { by, tz: 'Asia/Kolkata' }],
          ['usage', { by, breakdown: 'true', tz: 'UTC', since: midDay }],
          ['usage', { by, owner, tz: 'America/New_York' }],
          // An instant off the rollup's 15-minute edges: one row per message.
          ['usage', { by, since: new Date(hi - 3 * 86_400_000 - 7 * 60_000).toISOString() }],
        ]),
        ...['tool', 'skill', 'mcp', 'subagent', 'command'].map((by): [string, Record<string, string>] => ['events', { by, tz: 'UTC' }]),
        ['events', { by: 'tool', owner, since: midDay }],
        ['events-by-day-kind', { tz: 'Europe/Berlin' }],
        ['events-groups', { tz: 'UTC' }],
        ['events-groups', { groups: 'command,tool', owner, since: midDay }],
        ['blocks', {}],
        ['blocks', { 'by-owner': 'true', active: 'true', now: new Date(hi + 3_600_000).toISOString() }],
        ['sessions', { sort: 'cost_usd', limit: '1000' }],
        ['sessions', { sort: 'last_ts', q: 'a', model: 'claude-sonnet-4-20250514' }],
        ['session', { key: String(edge.session) }],
        ['live', { since: '2000-01-01T00:00:00Z' }],
      ];
      const reports = builtInReports();
      const runAll = async () => {
        const out: unknown[] = [];
        for (const [name, params] of cases) {
          const def = reports.get(name)!;
          out.push(JSON.parse(JSON.stringify((await def.run(db, resolveParams(def, params, hi))).result)));
        }
        return out;
      };

      expect((await sourcesOf(db)).settled).toBe(true);
      const fromTables = await runAll();
      await db.run(`INSERT INTO usage_dirty_keys (key) SELECT message_key FROM usage_message_picks UNION ALL SELECT event_id FROM usage_event_picks`);
      expect((await sourcesOf(db)).settled).toBe(false);
      const fromViews = await runAll();

      // The cases found data: the grouped reports have rows, the active block exists.
      const rows = (r: unknown) => ((r as { rows?: unknown[] }).rows ?? []).length;
      expect(fromTables.filter((r) => rows(r) > 0).length).toBeGreaterThan(cases.length - 8);
      expect(rows(fromTables[cases.findIndex(([n, p]) => n === 'blocks' && p.active)])).toBeGreaterThan(0);
      const [n] = await db.all<{ n: unknown }>('SELECT count(*) AS n FROM usage_dirty_keys');
      expect(num(n.n)).toBeGreaterThan(100);
      for (const [i, c] of cases.entries()) expect(fromTables[i], JSON.stringify(c)).toEqual(fromViews[i]);
      // Several groups from one scan: each as `report events --by` has it, in the order asked.
      const at = (name: string, match: (p: Record<string, string>) => boolean) => fromViews[cases.findIndex(([n, p]) => n === name && match(p))];
      const all = at('events-groups', (p) => !p.groups) as Record<string, unknown>;
      expect(Object.keys(all)).toEqual(['tool', 'skill', 'mcp', 'subagent', 'command']);
      for (const by of Object.keys(all)) expect(all[by], by).toEqual(at('events', (p) => p.by === by && !p.owner));
      const two = at('events-groups', (p) => p.groups !== undefined) as Record<string, unknown>;
      expect(Object.keys(two)).toEqual(['command', 'tool']);
      expect(two.tool).toEqual(at('events', (p) => p.owner !== undefined));
    } finally {
      await db.close();
    }
  }, 120_000);
});
