import { report, type Finding, type FindingCount, type FindingSummary } from '../api.js';
import { chart } from '../chart.js';
import { empty, h, section, table, type Column } from '../dom.js';
import { int } from '../format.js';
import { filterParams } from '../state.js';
import type { ViewContext } from './context.js';

const countColumns = (label: string): Column<FindingCount>[] => [
  { label, value: (r) => r.key },
  { label: 'findings', value: (r) => int(r.findings), num: true },
  { label: 'distinct secrets', value: (r) => int(r.distinct), num: true },
];

/** Findings as `report secrets` shows them: where, which rule, the redacted excerpt. Never a value. */
export async function renderSecrets(ctx: ViewContext): Promise<HTMLElement> {
  const p = filterParams(ctx.state, false);
  const [sum, list] = await Promise.all([
    report<FindingSummary>('secrets-summary', p),
    report<{ findings: Finding[] }>('secrets', { owner: p.owner, limit: 200 }),
  ]);
  const days = sum.byDay.map((d) => d.key);
  return h(
    'div',
    {},
    section(
      'Findings per day',
      h('p', { class: 'note' }, `${int(sum.total.findings)} findings of ${int(sum.total.distinct)} distinct secrets. Excerpts are redacted by the secrets processor; values are never stored.`),
      days.length ? chart({ days, series: [{ label: 'findings', values: sum.byDay.map((d) => d.findings) }], kind: 'stacked-bars', format: int, height: 200 }) : empty('No findings in this range.'),
      h('details', {}, h('summary', {}, 'findings per day (table)'), table(countColumns('date'), sum.byDay, { testid: 'secrets-by-day' })),
    ),
    h(
      'div',
      { class: 'two' },
      section('By owner', table(countColumns('owner'), sum.byOwner, { testid: 'secrets-by-owner', footer: sum.total })),
      section('By rule', table(countColumns('rule'), sum.byRule, { testid: 'secrets-by-rule', footer: sum.total })),
    ),
    section(
      'Findings (the first 200, by file)',
      list.findings.length
        ? table<Finding>(
            [
              { label: 'file', value: (f) => f.session_file },
              { label: 'line', value: (f) => int(f.line), num: true },
              { label: 'rule', value: (f) => f.rule },
              { label: 'where', value: (f) => f.location },
              { label: 'excerpt (redacted)', value: (f) => h('code', {}, f.excerpt) },
            ],
            list.findings,
            { testid: 'secrets-list' },
          )
        : empty('No findings.'),
    ),
  );
}
