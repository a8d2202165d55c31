/**
 * The one `--since` / `--until` / `--tz` parser of every report (pure): the
 * forms ccusage users type, canonical output that parses to itself, days in
 * the report's zone across DST, and the machine's zone by default.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dayIn, dayStart, machineTimeZone, parseWhen, TimeParamError, whenRange, zonedInstant } from '../src/pipeline/report-time.js';
import { resolveParams, ReportParamError, type ReportDefinition } from '../src/pipeline/report.js';
import { SINCE_PARAM, TZ_PARAM, UNTIL_PARAM } from '../src/pipeline/report-time.js';

// 2025-07-08T10:30:00Z: a Tuesday; 12:30 in Prague (UTC+2), 03:30 in Los Angeles (UTC-7).
const NOW = Date.parse('2025-07-08T10:30:00Z');

describe('parseWhen', () => {
  it('takes YYYYMMDD, YYYY-MM-DD, today and yesterday as days', () => {
    expect(parseWhen('--since', '20250701', NOW, 'UTC')).toBe('2025-07-01');
    expect(parseWhen('--since', '2025-07-01', NOW, 'UTC')).toBe('2025-07-01');
    expect(parseWhen('--since', 'today', NOW, 'UTC')).toBe('2025-07-08');
    expect(parseWhen('--since', 'Yesterday', NOW, 'UTC')).toBe('2025-07-07');
    // "today" is the report zone's day: at 23:30Z Tokyo is on the 9th; at 03:00Z Los Angeles is on the 7th.
    expect(parseWhen('--since', 'today', Date.parse('2025-07-08T23:30:00Z'), 'Asia/Tokyo')).toBe('2025-07-09');
    expect(parseWhen('--since', 'yesterday', Date.parse('2025-07-08T03:00:00Z'), 'America/Los_Angeles')).toBe('2025-07-06');
  });

  it('takes durations back from now and ISO date-times as instants', () => {
    expect(parseWhen('--since', '7d', NOW, 'UTC')).toBe('2025-07-01T10:30:00.000Z');
    expect(parseWhen('--since', '24h', NOW, 'UTC')).toBe('2025-07-07T10:30:00.000Z');
    expect(parseWhen('--since', '30m', NOW, 'UTC')).toBe('2025-07-08T10:00:00.000Z');
    expect(parseWhen('--since', '2w', NOW, 'UTC')).toBe('2025-06-24T10:30:00.000Z');
    expect(parseWhen('--until', '2025-07-01T10:00:00Z', NOW, 'Europe/Prague')).toBe('2025-07-01T10:00:00.000Z');
    expect(parseWhen('--until', '2025-07-01T10:00:00+02:00', NOW, 'UTC')).toBe('2025-07-01T08:00:00.000Z');
    // Without a zone designator the wall time is the report zone's.
    expect(parseWhen('--until', '2025-07-01T10:00', NOW, 'Europe/Prague')).toBe('2025-07-01T08:00:00.000Z');
    expect(parseWhen('--until', '2025-01-01 10:00:00.5', NOW, 'Europe/Prague')).toBe('2025-01-01T09:00:00.500Z');
  });

  it('refuses anything else, naming the flag and the forms', () => {
    for (const bad of ['last tuesday', '2025-02-30', '20251301', '7y', '2025-07-01T25:00', '', 'now']) {
      expect(() => parseWhen('--since', bad, NOW, 'UTC'), bad).toThrow(TimeParamError);
    }
    expect(() => parseWhen('--until', 'soon', NOW, 'UTC')).toThrow(/invalid --until "soon": expected YYYYMMDD, YYYY-MM-DD, today, yesterday/);
  });

  it('returns canonical text that parses to itself, in any zone (property)', () => {
    const zones = ['UTC', 'Europe/Prague', 'America/Los_Angeles', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Pacific/Chatham'];
    const input = fc.oneof(
      fc.constantFrom('today', 'yesterday', '7d', '24h', '90m'),
      fc.date({ min: new Date('2000-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }).map((d) => d.toISOString()),
      fc.date({ min: new Date('2000-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10).replace(/-/g, '')),
      fc.date({ min: new Date('2000-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 16)),
    );
    fc.assert(
      fc.property(input, fc.constantFrom(...zones), fc.integer({ min: 946_684_800_000, max: 4_102_444_800_000 }), (raw, zone, now) => {
        const once = parseWhen('--since', raw, now, zone);
        expect(parseWhen('--since', once, now + 86_400_000, zone)).toBe(once);
      }),
    );
  });
});

describe('days in a zone', () => {
  it('start at local midnight, also on DST days (23 h and 25 h long)', () => {
    expect(new Date(dayStart('2025-07-01', 'Europe/Prague')).toISOString()).toBe('2025-06-30T22:00:00.000Z');
    expect(new Date(dayStart('2025-03-30', 'Europe/Prague')).toISOString()).toBe('2025-03-29T23:00:00.000Z');
    expect(dayStart('2025-03-31', 'Europe/Prague') - dayStart('2025-03-30', 'Europe/Prague')).toBe(23 * 3_600_000);
    expect(dayStart('2025-10-27', 'Europe/Prague') - dayStart('2025-10-26', 'Europe/Prague')).toBe(25 * 3_600_000);
    expect(new Date(zonedInstant(2025, 7, 1, 10, 0, 0, 0, 'Asia/Kolkata')).toISOString()).toBe('2025-07-01T04:30:00.000Z');
    // No midnight that day: the clocks went from 23:59:59 to 01:00 (found by the property below).
    expect(new Date(dayStart('2016-10-16', 'America/Sao_Paulo')).toISOString()).toBe('2016-10-16T03:00:00.000Z');
  });

  it('agree with dayIn for every instant (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 946_684_800_000, max: 4_102_444_800_000 }), fc.constantFrom('UTC', 'Europe/Prague', 'America/Sao_Paulo', 'Asia/Kathmandu'), (t, zone) => {
        const day = dayIn(t, zone);
        const start = dayStart(day, zone);
        expect(start).toBeLessThanOrEqual(t);
        expect(dayIn(start, zone)).toBe(day);
        expect(dayIn(start - 1, zone)).not.toBe(day);
      }),
    );
  });

  it('bound a range: --until a day includes the whole day, an instant to the millisecond', () => {
    expect(whenRange('2025-07-01', '2025-07-01', 'Europe/Prague')).toEqual({
      since: Date.parse('2025-06-30T22:00:00Z'),
      until: Date.parse('2025-07-01T22:00:00Z'),
    });
    expect(whenRange(undefined, '2025-07-01T10:00:00.000Z', 'UTC')).toEqual({ until: Date.parse('2025-07-01T10:00:00.001Z') });
  });
});

describe('the report parameters', () => {
  const def = { name: 't', params: [TZ_PARAM, SINCE_PARAM, UNTIL_PARAM] } as unknown as ReportDefinition;

  it('resolve today in --tz, take --timezone as an alias, and refuse a bad zone', () => {
    const late = Date.parse('2025-07-08T23:30:00Z');
    expect(resolveParams(def, { timezone: 'Asia/Tokyo', since: 'today' }, late)).toEqual({ tz: 'Asia/Tokyo', since: '2025-07-09', until: undefined });
    expect(resolveParams(def, { tz: 'UTC', timezone: 'Asia/Tokyo', since: 'today' }, late).tz).toBe('UTC');
    expect(() => resolveParams(def, { tz: 'Mars/Olympus' })).toThrow(ReportParamError);
    expect(() => resolveParams(def, { since: 'last tuesday' })).toThrow(ReportParamError);
  });

  it('default to the machine zone: TZ, else Intl', () => {
    expect(machineTimeZone({ TZ: 'Europe/Prague' })).toBe('Europe/Prague');
    expect(machineTimeZone({ TZ: ':America/New_York' })).toBe('America/New_York');
    expect(machineTimeZone({ TZ: 'Not/AZone' })).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(TZ_PARAM.default).toBe(machineTimeZone());
  });
});
