import { report, type LiveFile } from '../api.js';
import { empty, h, section, table } from '../dom.js';
import { ago, int, usd, when } from '../format.js';
import type { ViewContext } from './context.js';

export const LIVE_MINUTES = 15;

/** Files with a line in the last 15 minutes; the page ticks "ago" itself and drops rows that age out. */
export async function renderLive(ctx: ViewContext): Promise<HTMLElement> {
  const s = ctx.state;
  const r = await report<{ rows: LiveFile[] }>('live', { since: `${LIVE_MINUTES}m`, owner: s.owner, model: s.model });
  const rows = r.rows;
  const t = table<LiveFile>(
    [
      { label: 'file', value: (f) => h('a', { href: `?view=sessions&session=${encodeURIComponent(`${f.owner}/${f.session_id ?? ''}.jsonl`)}` }, f.session_file) },
      { label: 'owner', value: (f) => f.owner },
      { label: 'model', value: (f) => f.model ?? '–' },
      { label: 'messages', value: (f) => int(f.messages), num: true },
      { label: 'input', value: (f) => int(f.input_tokens), num: true },
      { label: 'output', value: (f) => int(f.output_tokens), num: true },
      { label: 'cache write', value: (f) => int(f.cache_creation_tokens), num: true },
      { label: 'cache read', value: (f) => int(f.cache_read_tokens), num: true },
      { label: 'cost', value: (f) => usd(f.cost_usd), num: true },
      { label: 'last activity', value: (f) => h('time', { datetime: f.last_ts ?? '', 'data-ago': f.last_ts ?? '', title: when(f.last_ts, s.tz) }, ago(f.last_ts)) },
      { label: 'running now', value: (f) => (f.running_tool ? h('span', { class: 'running' }, `${f.running_tool} (since ${ago(f.running_since)})`) : '–') },
    ],
    rows,
    { testid: 'live', rowAttrs: (f) => ({ 'data-last': f.last_ts ?? '' }) },
  );
  return h(
    'div',
    {},
    section(
      `Active in the last ${LIVE_MINUTES} minutes`,
      h('p', { class: 'note' }, `${int(rows.length)} session files; updated on every commit.`),
      rows.length ? t : empty(`No session file had a line in the last ${LIVE_MINUTES} minutes.`),
    ),
  );
}

/** Once a second: refresh the "ago" cells and hide rows older than the window. No request. */
export function tickLive(root: HTMLElement): void {
  const now = Date.now();
  for (const el of root.querySelectorAll<HTMLElement>('[data-ago]')) el.textContent = ago(el.dataset.ago, now);
  for (const tr of root.querySelectorAll<HTMLElement>('tr[data-last]')) {
    const last = Date.parse(tr.dataset.last ?? '');
    tr.hidden = Number.isFinite(last) && now - last > LIVE_MINUTES * 60_000;
  }
}
