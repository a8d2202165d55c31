/** The admin API as the page uses it: same-origin fetches (the cookie carries the token off loopback). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function parse<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { message: text };
  }
  if (!res.ok) throw new ApiError(res.status, (body as { message?: string })?.message ?? `HTTP ${res.status}`);
  return body as T;
}

export async function getJson<T>(path: string, params: Record<string, string | number | undefined> = {}): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const qs = q.toString();
  return parse<T>(await fetch(qs ? `${path}?${qs}` : path, { credentials: 'same-origin', headers: { accept: 'application/json' } }));
}

export function report<T>(name: string, params: Record<string, string | number | undefined> = {}): Promise<T> {
  return getJson<T>(`/reports/${encodeURIComponent(name)}`, params);
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  return parse<T>(
    await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-session-pipeline-actor': 'dashboard' },
      body: JSON.stringify(body),
    }),
  );
}

// ---- report shapes (pipelines/usage, pipelines/secrets)

export interface Tokens {
  messages: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
  cost_usd: number | null;
}
export interface UsageRow extends Tokens {
  key: string | null;
  unpriced_models: string[];
  /** `breakdown=true`: the row per model. */
  breakdown?: (Tokens & { model: string })[];
}
export interface Report<Row> {
  rows: Row[];
  totals: Row;
}
export interface DayModelRow extends Tokens {
  day: string;
  model: string;
}
export interface EventRow {
  key: string | null;
  events: number;
  errors: number;
  sessions: number;
}
export interface DayKindRow {
  day: string;
  kind: string;
  events: number;
  errors: number;
}
export interface LiveFile extends Tokens {
  session_file: string;
  owner: string;
  session_id: string | null;
  subagent: boolean;
  model: string | null;
  first_ts: string | null;
  last_ts: string | null;
  running_tool: string | null;
  running_since: string | null;
}
export interface SessionRow extends Tokens {
  session: string;
  owner: string;
  session_id: string;
  first_ts: string | null;
  last_ts: string | null;
  models: string[];
  tool_calls: number;
  tool_errors: number;
  files: number;
  cwd: string | null;
  git_branch: string | null;
}
export interface SessionDetail {
  session: string;
  files: { session_file: string; subagent: boolean; first_ts: string | null; last_ts: string | null; lines: number }[];
  totals: Tokens & { tool_calls: number; tool_errors: number };
  messages: (Omit<Tokens, 'messages'> & { ts: string | null; session_file: string; model: string | null })[];
  events: { ts: string | null; session_file: string; kind: string; name: string | null; is_error: boolean | null }[];
  truncated: boolean;
}
export interface FindingCount {
  key: string;
  findings: number;
  distinct: number;
}
export interface FindingSummary {
  byOwner: FindingCount[];
  byRule: FindingCount[];
  byDay: FindingCount[];
  total: FindingCount;
}
export interface Finding {
  session_file: string;
  offset: number;
  line: number;
  rule: string;
  location: string;
  excerpt: string;
  fingerprint: string;
}
