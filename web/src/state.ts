/**
 * The page's state lives in the URL (a link shares the view and its filters):
 * `?view=sessions&since=2025-10-01&until=&owner=&model=&tz=Europe/Prague&...`.
 * The time zone defaults to the browser's.
 */
export const VIEWS = ['overview', 'live', 'sessions', 'tools', 'secrets', 'pipeline'] as const;
export type View = (typeof VIEWS)[number];

export interface State {
  view: View;
  since: string;
  until: string;
  owner: string;
  model: string;
  tz: string;
  /** View-specific: the overview's metric, the sessions table's sort and search, an open session. */
  extra: URLSearchParams;
}

export const browserTz = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

export function readState(): State {
  const q = new URLSearchParams(location.search);
  const view = (VIEWS as readonly string[]).includes(q.get('view') ?? '') ? (q.get('view') as View) : 'overview';
  const extra = new URLSearchParams(q);
  for (const k of ['view', 'since', 'until', 'owner', 'model', 'tz']) extra.delete(k);
  return { view, since: q.get('since') ?? '', until: q.get('until') ?? '', owner: q.get('owner') ?? '', model: q.get('model') ?? '', tz: q.get('tz') || browserTz(), extra };
}

export function writeState(s: State, push = false): void {
  const q = new URLSearchParams();
  q.set('view', s.view);
  if (s.since) q.set('since', s.since);
  if (s.until) q.set('until', s.until);
  if (s.owner) q.set('owner', s.owner);
  if (s.model) q.set('model', s.model);
  if (s.tz !== browserTz()) q.set('tz', s.tz);
  for (const [k, v] of s.extra) if (v) q.set(k, v);
  const url = `${location.pathname}?${q}`;
  if (push) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

/** The filters every report takes, as query parameters. */
export function filterParams(s: State, withModel = true): Record<string, string> {
  const p: Record<string, string> = { tz: s.tz };
  if (s.since) p.since = s.since;
  if (s.until) p.until = s.until;
  if (s.owner) p.owner = s.owner;
  if (withModel && s.model) p.model = s.model;
  return p;
}
