/**
 * Time in report parameters, one definition for every report: `--since` /
 * `--until` and the time zone, as ccusage users type them. Pure: the clock
 * and the zone are arguments.
 *
 * Accepted: `YYYYMMDD`, `YYYY-MM-DD`, `today`, `yesterday` (days in the
 * report's zone), ISO date-times (`2025-07-01T10:00`, in the report's zone
 * unless they carry `Z` or an offset), and durations back from now (`30m`,
 * `24h`, `7d`, `2w`). Canonical forms, which parse to themselves: a day is
 * `YYYY-MM-DD`, anything else an instant `YYYY-MM-DDTHH:MM:SS.sssZ`, so the
 * CLI resolves `today` or `7d` once and a daemon answering for it filters on
 * the same bounds.
 */

import { ReportParamError, type ReportParam, type ReportParams } from './report.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };
const DAY_MS = 86_400_000;

export class TimeParamError extends Error {}

/** Whether `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone !== '';
  } catch {
    return false;
  }
}

/** The machine's zone: `TZ` when it names one, else what Intl resolves (ccusage's default too), else UTC. */
export function machineTimeZone(env: NodeJS.ProcessEnv = process.env): string {
  const tz = env.TZ?.replace(/^:/, '');
  if (tz && isTimeZone(tz)) return tz;
  const resolved = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return resolved && isTimeZone(resolved) ? resolved : 'UTC';
}

export function parseTimeZone(flag: string, raw: string): string {
  const v = raw.trim();
  if (!isTimeZone(v)) throw new TimeParamError(`invalid ${flag} ${JSON.stringify(raw)}: expected an IANA time zone such as UTC or Europe/Prague`);
  return v;
}

/** The wall-clock fields of instant `ms` in `zone`. */
function wallClock(ms: number, zone: string): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { y: +p.year, mo: +p.month, d: +p.day, h: +p.hour, mi: +p.minute, s: +p.second };
}

/** The day `YYYY-MM-DD` of instant `ms` in `zone`. */
export function dayIn(ms: number, zone: string): string {
  const w = wallClock(ms, zone);
  return `${String(w.y).padStart(4, '0')}-${String(w.mo).padStart(2, '0')}-${String(w.d).padStart(2, '0')}`;
}

/** The instant at which `zone`'s clock reads the given wall time (the earlier one in a DST overlap). */
export function zonedInstant(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number, zone: string): number {
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  // Two passes: the offset at the guess, then at the corrected guess (DST edges).
  let t = asUtc;
  for (let i = 0; i < 2; i++) {
    const w = wallClock(t, zone);
    const offset = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - Math.floor(t / 1000) * 1000;
    t = asUtc - offset;
  }
  return t;
}

/** Midnight starting day `YYYY-MM-DD` in `zone`. */
export function dayStart(day: string, zone: string): number {
  const [y, mo, d] = day.split('-').map(Number);
  const t = zonedInstant(y, mo, d, 0, 0, 0, 0, zone);
  if (dayIn(t, zone) === day) return t;
  // Midnight does not exist that day (a DST gap at 00:00, e.g. America/Sao_Paulo on 2016-10-16):
  // the guess lands on the day before, and the day starts where the gap ends. Gaps are <= 2 h.
  let lo = t;
  let hi = t + 2 * 3_600_000;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (dayIn(mid, zone) === day) hi = mid;
    else lo = mid;
  }
  return hi;
}

const validDay = (y: number, mo: number, d: number) => {
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
};

/**
 * `--since` / `--until` to its canonical text (see the header); `now` and `zone`
 * resolve the relative forms. Throws `TimeParamError` with the accepted forms.
 */
export function parseWhen(flag: string, raw: string, now: number, zone: string): string {
  const v = raw.trim().toLowerCase();
  if (v === 'today') return dayIn(now, zone);
  if (v === 'yesterday') return dayIn(dayStart(dayIn(now, zone), zone) - DAY_MS / 2, zone);
  const rel = /^(\d+)\s*([smhdw])$/.exec(v);
  if (rel) return new Date(now - Number(rel[1]) * UNITS[rel[2]]).toISOString();
  const day = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(v);
  if (day && validDay(+day[1], +day[2], +day[3])) return `${day[1]}-${day[2]}-${day[3]}`;
  const dt = /^(\d{4})-(\d{2})-(\d{2})[t ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?(z|[+-]\d{2}:?\d{2})?$/.exec(v);
  if (dt && validDay(+dt[1], +dt[2], +dt[3]) && +dt[4] < 24 && +dt[5] < 60 && +(dt[6] ?? 0) < 60) {
    const ms = dt[7] ? Number(dt[7].padEnd(3, '0')) : 0;
    if (dt[8]) {
      const t = Date.parse(`${dt[1]}-${dt[2]}-${dt[3]}T${dt[4]}:${dt[5]}:${dt[6] ?? '00'}.${String(ms).padStart(3, '0')}${dt[8] === 'z' ? 'Z' : dt[8]}`);
      if (Number.isFinite(t)) return new Date(t).toISOString();
    } else {
      return new Date(zonedInstant(+dt[1], +dt[2], +dt[3], +dt[4], +dt[5], +(dt[6] ?? 0), ms, zone)).toISOString();
    }
  }
  throw new TimeParamError(
    `invalid ${flag} ${JSON.stringify(raw)}: expected YYYYMMDD, YYYY-MM-DD, today, yesterday, an ISO date-time (2025-07-01T10:00[Z]) or a duration back from now (30m, 24h, 7d, 2w)`,
  );
}

/**
 * The half-open range [since, until) of instants (epoch ms) that canonical bounds select in `zone`:
 * a day starts at its midnight (`--since`) or ends at the next one (`--until`, inclusive of the day);
 * an instant is itself (`--until` inclusive to the millisecond).
 */
export function whenRange(since: string | undefined, until: string | undefined, zone: string): { since?: number; until?: number } {
  const isDay = (s: string) => /^\d{4}-\d{2}-\d{2}$/.test(s);
  const out: { since?: number; until?: number } = {};
  if (since !== undefined) out.since = isDay(since) ? dayStart(since, zone) : Date.parse(since);
  if (until !== undefined) {
    if (isDay(until)) {
      const [y, mo, d] = until.split('-').map(Number);
      const next = new Date(Date.UTC(y, mo - 1, d + 1));
      out.until = zonedInstant(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), 0, 0, 0, 0, zone);
    } else {
      out.until = Date.parse(until) + 1;
    }
  }
  return out;
}

// ---- the report parameters every report shares (src/pipeline/report.ts) ----


const rethrow = <T>(fn: () => T): T => {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TimeParamError) throw new ReportParamError(err.message);
    throw err;
  }
};

/** `--tz` / `-z` / `--timezone`: declared before `--since`/`--until`, which resolve `today` in it. */
export const TZ_PARAM: ReportParam = {
  name: 'tz',
  short: 'z',
  aliases: ['timezone'],
  valueName: 'zone',
  description: 'IANA time zone for days, weeks, months and --since/--until (default: the machine\'s, from TZ)',
  default: machineTimeZone(),
  parse: (v) => rethrow(() => parseTimeZone('--tz', v)),
};

const zoneOf = (earlier: ReportParams) => earlier.tz ?? machineTimeZone();

export const WHEN_FORMS = 'YYYYMMDD, YYYY-MM-DD, today, yesterday, an ISO date-time, or 7d / 24h back from now';

export const SINCE_PARAM: ReportParam = {
  name: 'since',
  short: 's',
  valueName: 'when',
  description: `from this day (in --tz) or instant: ${WHEN_FORMS}`,
  parse: (v, now, earlier) => rethrow(() => parseWhen('--since', v, now, zoneOf(earlier))),
};

export const UNTIL_PARAM: ReportParam = {
  name: 'until',
  short: 'u',
  valueName: 'when',
  description: `up to this day (inclusive, in --tz) or instant: ${WHEN_FORMS}`,
  parse: (v, now, earlier) => rethrow(() => parseWhen('--until', v, now, zoneOf(earlier))),
};

/** `--order asc|desc`, ccusage's default ascending. */
export const ORDER_PARAM: ReportParam = {
  name: 'order',
  short: 'o',
  valueName: 'order',
  description: 'row order: asc (oldest / first key first) or desc',
  choices: ['asc', 'desc'],
  default: 'asc',
};
