import { report, type SessionDetail, type SessionRow } from '../api.js';
import { chart } from '../chart.js';
import { empty, h, section, table, type Column } from '../dom.js';
import { int, usd, when } from '../format.js';
import { filterParams } from '../state.js';
import type { ViewContext } from './context.js';

const PAGE = 100;

export async function renderSessions(ctx: ViewContext): Promise<HTMLElement> {
  const key = ctx.state.extra.get('session');
  return key ? renderDetail(ctx, key) : renderList(ctx);
}

async function renderList(ctx: ViewContext): Promise<HTMLElement> {
  const s = ctx.state;
  const sort = s.extra.get('sort') || 'last_ts';
  const desc = (s.extra.get('dir') || 'desc') === 'desc';
  const q = s.extra.get('q') ?? '';
  const offset = Math.max(0, Number(s.extra.get('offset') ?? 0) || 0);
  const r = await report<{ total: number; rows: SessionRow[] }>('sessions', { ...filterParams(s), q, sort, dir: desc ? 'desc' : 'asc', limit: PAGE, offset });
  const cols: Column<SessionRow>[] = [
    { label: 'session', key: 'session', value: (x) => h('a', { href: `?view=sessions&session=${encodeURIComponent(x.session)}`, 'data-session': x.session, onclick: (e: Event) => { e.preventDefault(); ctx.update({}, { session: x.session }, true); } }, x.session) },
    { label: 'last activity', key: 'last_ts', value: (x) => when(x.last_ts, s.tz) },
    { label: 'models', value: (x) => x.models.join(', ') || '–' },
    { label: 'messages', key: 'messages', value: (x) => int(x.messages), num: true },
    { label: 'tool calls', key: 'tool_calls', value: (x) => int(x.tool_calls), num: true },
    { label: 'errors', key: 'tool_errors', value: (x) => int(x.tool_errors), num: true },
    { label: 'input', key: 'input_tokens', value: (x) => int(x.input_tokens), num: true },
    { label: 'output', key: 'output_tokens', value: (x) => int(x.output_tokens), num: true },
    { label: 'cache write', key: 'cache_creation_tokens', value: (x) => int(x.cache_creation_tokens), num: true },
    { label: 'cache read', key: 'cache_read_tokens', value: (x) => int(x.cache_read_tokens), num: true },
    { label: 'cost', key: 'cost_usd', value: (x) => usd(x.cost_usd), num: true },
  ];
  const onSort = (k: string) => ctx.update({}, { sort: k, dir: k === sort && desc ? 'asc' : 'desc', offset: null });
  const search = h('input', {
    id: 'session-search',
    type: 'search',
    placeholder: 'search session, directory, branch',
    'aria-label': 'search sessions',
    value: q,
    oninput: (e: Event) => {
      const v = (e.target as HTMLInputElement).value;
      clearTimeout((search as unknown as { t?: number }).t);
      (search as unknown as { t?: number }).t = window.setTimeout(() => ctx.update({}, { q: v || null, offset: null }), 250);
    },
  });
  const pager = h(
    'div',
    { class: 'pager' },
    h('button', { type: 'button', disabled: offset === 0, onclick: () => ctx.update({}, { offset: String(Math.max(0, offset - PAGE)) }) }, '‹ previous'),
    h('span', {}, r.total ? `${int(offset + 1)}–${int(Math.min(r.total, offset + PAGE))} of ${int(r.total)}` : '0 sessions'),
    h('button', { type: 'button', disabled: offset + PAGE >= r.total, onclick: () => ctx.update({}, { offset: String(offset + PAGE) }) }, 'next ›'),
  );
  return h('div', {}, section('Sessions', search, pager, r.rows.length ? table(cols, r.rows, { testid: 'sessions', sort: { key: sort, desc, onSort } }) : empty('No session matches.')));
}

type Entry =
  | { at: string | null; kind: 'message'; m: SessionDetail['messages'][number] }
  | { at: string | null; kind: 'event'; e: SessionDetail['events'][number] };

async function renderDetail(ctx: ViewContext, key: string): Promise<HTMLElement> {
  const s = ctx.state;
  const d = await report<SessionDetail>('session', { key });
  const sub = new Set(d.files.filter((f) => f.subagent).map((f) => f.session_file));
  const entries: Entry[] = [
    ...d.messages.map((m) => ({ at: m.ts, kind: 'message' as const, m })),
    ...d.events.map((e) => ({ at: e.ts, kind: 'event' as const, e })),
  ].sort((a, b) => (a.at ?? '').localeCompare(b.at ?? ''));
  const back = h('a', { href: '?view=sessions', onclick: (e: Event) => { e.preventDefault(); ctx.update({}, { session: null }, true); } }, '‹ all sessions');
  const t = d.totals;
  const cumulative: number[] = [];
  d.messages.reduce((acc, m, i) => (cumulative[i] = acc + (m.cost_usd ?? 0)), 0);
  const times = d.messages.map((m) => Date.parse(m.ts ?? '') / 1000);
  return h(
    'div',
    {},
    back,
    section(
      `Session ${d.session}`,
      table(
        [
          { label: 'messages', value: () => int(t.messages), num: true },
          { label: 'tool calls', value: () => int(t.tool_calls), num: true },
          { label: 'tool errors', value: () => int(t.tool_errors), num: true },
          { label: 'input', value: () => int(t.input_tokens), num: true },
          { label: 'output', value: () => int(t.output_tokens), num: true },
          { label: 'cache write', value: () => int(t.cache_creation_tokens), num: true },
          { label: 'cache read', value: () => int(t.cache_read_tokens), num: true },
          { label: 'cost', value: () => usd(t.cost_usd), num: true },
        ],
        [0],
        { testid: 'session-totals' },
      ),
      d.truncated ? h('p', { class: 'note' }, 'The timeline shows the first 5,000 messages and events.') : null,
    ),
    section(
      'Files (the session and its subagents)',
      table(
        [
          { label: 'file', value: (f: SessionDetail['files'][number]) => f.session_file },
          { label: 'kind', value: (f: SessionDetail['files'][number]) => (f.subagent ? 'subagent' : 'session') },
          { label: 'first line', value: (f: SessionDetail['files'][number]) => when(f.first_ts, s.tz) },
          { label: 'last line', value: (f: SessionDetail['files'][number]) => when(f.last_ts, s.tz) },
          { label: 'lines', value: (f: SessionDetail['files'][number]) => int(f.lines), num: true },
        ],
        d.files,
        { testid: 'session-files' },
      ),
    ),
    d.messages.length > 1 && times.every(Number.isFinite) ? section('Cumulative cost per message', chart({ days: [], times, series: [{ label: 'cost so far', values: cumulative }], kind: 'lines', format: (v) => usd(v), height: 180 })) : null,
    section(
      'Timeline',
      entries.length === 0
        ? empty('No messages or tool calls.')
        : table<Entry>(
            [
              { label: 'time', value: (x) => when(x.at, s.tz) },
              { label: 'in', value: (x) => { const f = x.kind === 'message' ? x.m.session_file : x.e.session_file; return sub.has(f) ? 'subagent' : 'session'; } },
              { label: 'what', value: (x) => (x.kind === 'message' ? 'message' : x.e.kind) },
              { label: 'model / name', value: (x) => (x.kind === 'message' ? x.m.model ?? '–' : x.e.name ?? '–') },
              { label: 'result', value: (x) => (x.kind === 'event' ? (x.e.is_error === true ? h('span', { class: 'error' }, '✗ error') : x.e.is_error === false ? 'ok' : '–') : '') },
              { label: 'input', value: (x) => (x.kind === 'message' ? int(x.m.input_tokens) : ''), num: true },
              { label: 'output', value: (x) => (x.kind === 'message' ? int(x.m.output_tokens) : ''), num: true },
              { label: 'cache write', value: (x) => (x.kind === 'message' ? int(x.m.cache_creation_tokens) : ''), num: true },
              { label: 'cache read', value: (x) => (x.kind === 'message' ? int(x.m.cache_read_tokens) : ''), num: true },
              { label: 'cost', value: (x) => (x.kind === 'message' ? usd(x.m.cost_usd) : ''), num: true },
            ],
            entries,
            { testid: 'timeline', rowAttrs: (x) => ({ class: x.kind === 'event' && x.e.is_error ? 'error-row' : null }) },
          ),
    ),
  );
}
