/**
 * The dashboard shell: navigation, filters (kept in the URL), and one
 * server-sent event stream. Each `commit` event (at most one a second)
 * redraws the open view from its reports; nothing is fetched on a timer.
 */
import './style.css';
import { ApiError, getJson, report, type Report, type UsageRow } from './api.js';
import { destroyCharts } from './chart.js';
import { h } from './dom.js';
import { readState, writeState, VIEWS, browserTz, type State, type View } from './state.js';
import type { ViewContext, ViewRender } from './views/context.js';
import { renderOverview } from './views/overview.js';
import { renderLive, tickLive } from './views/live.js';
import { renderSessions } from './views/sessions.js';
import { renderTools } from './views/tools.js';
import { renderSecrets } from './views/secrets.js';
import { renderPipeline } from './views/pipeline.js';

const RENDER: Record<View, ViewRender> = {
  overview: renderOverview,
  live: renderLive,
  sessions: renderSessions,
  tools: renderTools,
  secrets: renderSecrets,
  pipeline: renderPipeline,
};
const TITLES: Record<View, string> = { overview: 'Overview', live: 'Live', sessions: 'Sessions', tools: 'Tools', secrets: 'Secrets', pipeline: 'Pipeline' };

let state: State = readState();
let notice: ViewContext['notice'] = null;
let reports: string[] = [];
let rendering = false;
let again = false;
let renders = 0;

const $ = (id: string) => document.getElementById(id)!;

function update(patch: Partial<Omit<State, 'extra'>>, extra: Record<string, string | null> = {}, push = false): void {
  const viewChanged = patch.view !== undefined && patch.view !== state.view;
  state = { ...state, ...patch, extra: viewChanged ? new URLSearchParams() : new URLSearchParams(state.extra) };
  for (const [k, v] of Object.entries(extra)) {
    if (v === null) state.extra.delete(k);
    else state.extra.set(k, v);
  }
  writeState(state, push || viewChanged);
  drawChrome();
  void refresh();
}

function drawChrome(): void {
  $('nav').replaceChildren(
    ...VIEWS.map((v) =>
      h('a', { href: `?view=${v}`, 'aria-current': v === state.view ? 'page' : null, 'data-view': v, onclick: (e: Event) => { e.preventDefault(); update({ view: v }); } }, TITLES[v]),
    ),
  );
  document.title = `${TITLES[state.view]} · session-pipeline`;
  const form = $('filters') as HTMLFormElement;
  if (!form.dataset.built) buildFilters(form);
  for (const k of ['since', 'until', 'owner', 'model', 'tz'] as const) {
    const input = form.elements.namedItem(k) as HTMLInputElement;
    if (document.activeElement !== input) input.value = state[k];
  }
}

function buildFilters(form: HTMLFormElement): void {
  form.dataset.built = '1';
  const field = (name: string, label: string, attrs: Record<string, string>) =>
    h('label', {}, label, ' ', h('input', { name, ...attrs, onchange: (e: Event) => update({ [name]: (e.target as HTMLInputElement).value.trim() || (name === 'tz' ? browserTz() : '') }) }));
  const zones = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? ['UTC'];
  form.append(
    field('since', 'from', { type: 'date' }),
    field('until', 'to', { type: 'date' }),
    field('owner', 'owner', { type: 'text', list: 'owners', placeholder: 'all', size: '14' }),
    field('model', 'model', { type: 'text', list: 'models', placeholder: 'all', size: '18' }),
    field('tz', 'time zone', { type: 'text', list: 'zones', size: '16' }),
    h('datalist', { id: 'owners' }),
    h('datalist', { id: 'models' }),
    h('datalist', { id: 'zones' }, zones.map((z) => h('option', { value: z }))),
  );
  form.addEventListener('submit', (e) => e.preventDefault());
  // Owners and models for the pickers, fetched when a picker is first used.
  const fill = async () => {
    const [o, m] = await Promise.all([report<Report<UsageRow>>('usage', { by: 'owner' }), report<Report<UsageRow>>('usage', { by: 'model' })]);
    $('owners').replaceChildren(...o.rows.map((r) => h('option', { value: r.key ?? '' })));
    $('models').replaceChildren(...m.rows.map((r) => h('option', { value: r.key ?? '' })));
  };
  for (const n of ['owner', 'model']) (form.elements.namedItem(n) as HTMLElement).addEventListener('focus', () => void fill().catch(() => undefined), { once: true });
}

function loginForm(message: string): HTMLElement {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', required: true, 'aria-label': 'admin token' });
  return h(
    'form',
    {
      class: 'card login',
      method: 'get',
      action: '/',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const q = new URLSearchParams(location.search);
        q.set('token', input.value);
        location.assign(`/?${q}`);
      },
    },
    h('h2', {}, 'Admin token'),
    h('p', {}, message),
    input,
    ' ',
    h('button', { type: 'submit' }, 'Open'),
  );
}

/** Redraw the open view; a commit during a redraw queues one more. */
async function refresh(): Promise<void> {
  if (rendering) {
    again = true;
    return;
  }
  rendering = true;
  document.body.dataset.state = 'loading';
  const view = state.view;
  const generation = notice?.generation ?? 0;
  try {
    const el = await RENDER[view]({ state, update, notice, reports });
    if (view === state.view) {
      const focused = document.activeElement as HTMLInputElement | null;
      const id = focused?.id;
      const sel = id && 'selectionStart' in focused! ? [focused!.selectionStart, focused!.selectionEnd] : null;
      destroyCharts();
      $('view').replaceChildren(el);
      if (id) {
        const again = document.getElementById(id) as HTMLInputElement | null;
        again?.focus();
        if (again && sel) again.setSelectionRange(sel[0], sel[1]);
      }
      renders++;
      document.body.dataset.generation = String(generation);
      document.body.dataset.renders = String(renders);
      document.body.dataset.view = view;
    }
  } catch (err) {
    destroyCharts();
    const e = err as Error;
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) $('view').replaceChildren(loginForm(e.message));
    else $('view').replaceChildren(h('p', { class: 'error', role: 'alert' }, `Could not load this view: ${e.message}`));
  } finally {
    rendering = false;
    document.body.dataset.state = 'ready';
    if (again) {
      again = false;
      void refresh();
    }
  }
}

function connect(): void {
  const es = new EventSource('/dashboard/events');
  const onNotice = (ev: MessageEvent) => {
    notice = JSON.parse(ev.data);
    $('live-state').textContent = `live · ${notice!.commitsPerSecond.toFixed(2)} commits/s`;
    void refresh();
  };
  es.addEventListener('hello', onNotice);
  es.addEventListener('commit', onNotice);
  es.addEventListener('rescan', () => {
    if (state.view === 'pipeline') void refresh();
  });
  es.onerror = () => {
    $('live-state').textContent = 'reconnecting…';
  };
}

window.addEventListener('popstate', () => {
  state = readState();
  drawChrome();
  void refresh();
});
// The Live view's "ago" cells, and rows leaving its window: local, no request.
setInterval(() => {
  if (state.view === 'live') tickLive($('view'));
}, 1000);

async function start(): Promise<void> {
  writeState(state);
  drawChrome();
  try {
    reports = (await getJson<{ reports: { name: string }[] }>('/reports')).reports.map((r) => r.name);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      $('view').replaceChildren(loginForm(err.message));
      document.body.dataset.state = 'ready';
      return;
    }
  }
  connect();
}

void start();
