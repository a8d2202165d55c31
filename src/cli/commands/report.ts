/**
 * `session-pipeline report <name>`: every report the processors declare
 * (`Processor.reports`, src/pipeline/report.ts), served generically: its
 * parameters become flags, and its result prints as a table, `--json` or
 * `--csv`. Live or offline (src/cli/read-target.ts), the same bytes.
 */
import { Command, Option } from 'commander';
import { addSettings, guard, CliError, EXIT } from '../common.js';
import { builtInReports } from '../../../pipelines/index.js';
import { formatsOf, renderReport, resolveParams, type ReportDefinition, type ReportFormat } from '../../pipeline/report.js';
import { openReadTarget, READ_SETTINGS } from '../read-target.js';

function formatOf(opts: Record<string, unknown>): ReportFormat {
  if (opts.json && opts.csv) throw new CliError('--json and --csv are exclusive', EXIT.usage);
  return opts.json ? 'json' : opts.csv ? 'csv' : 'table';
}

/**
 * One `report <name>` command for a report definition; `fixed` parameters are
 * set and not offered as flags (the `daily` shortcut is `report usage --by day`).
 */
export function reportSubcommand(def: ReportDefinition, name = def.name, fixed: Readonly<Record<string, string>> = {}): Command {
  const cmd = new Command(name).description(name === def.name ? def.description : `${def.description} (= report ${def.name}${Object.entries(fixed).map(([k, v]) => ` --${k} ${v}`).join('')})`);
  const attributes = new Map<string, string>();
  for (const p of def.params) {
    if (p.name in fixed) continue;
    const spelling = `${p.short ? `-${p.short}, ` : ''}--${p.name}${p.flag ? '' : ` <${p.valueName ?? 'value'}>`}`;
    const o = new Option(spelling, p.description);
    if (p.choices) o.choices(p.choices);
    if (p.default !== undefined) o.default(p.default);
    cmd.addOption(o);
    attributes.set(p.name, o.attributeName());
    for (const alias of p.aliases ?? []) {
      const a = new Option(`--${alias} <${p.valueName ?? 'value'}>`, `alias of --${p.name}`);
      cmd.addOption(a);
      attributes.set(alias, a.attributeName());
    }
  }
  const formats = formatsOf(def);
  cmd.option('-j, --json', `print one JSON object: ${def.jsonShape}`);
  if (formats.includes('csv')) cmd.option('--csv', 'print the rows as CSV with a header line');
  addSettings(cmd, READ_SETTINGS);
  cmd.action((opts: Record<string, unknown>) =>
    guard(async () => {
      const format = formatOf(opts);
      const raw: Record<string, unknown> = { ...fixed };
      // Only what the user typed: resolveParams fills the defaults, so a defaulted --tz cannot hide --timezone.
      for (const [name, attr] of attributes) {
        if (opts[attr] !== undefined && cmd.getOptionValueSource(attr) !== 'default') raw[name] = opts[attr];
      }
      const params = resolveParams(def, raw);
      const target = await openReadTarget(opts);
      let out;
      try {
        out = await target.report(def, params);
      } finally {
        await target.close();
      }
      if (out.notice) process.stderr.write(`session-pipeline: ${out.notice}\n`);
      process.stdout.write(renderReport(def, format, out.result, params));
    }),
  );
  return cmd;
}

/** Top-level shortcuts, as ccusage has them: `daily` is `report usage --by day`. */
export const SHORTCUTS: Readonly<Record<string, { report: string; fixed: Readonly<Record<string, string>> }>> = {
  daily: { report: 'usage', fixed: { by: 'day' } },
  weekly: { report: 'usage', fixed: { by: 'week' } },
  monthly: { report: 'usage', fixed: { by: 'month' } },
  session: { report: 'usage', fixed: { by: 'session' } },
  blocks: { report: 'blocks', fixed: {} },
};

export function shortcutCommands(): Command[] {
  const reports = builtInReports();
  return Object.entries(SHORTCUTS).flatMap(([name, s]) => {
    const def = reports.get(s.report);
    return def ? [reportSubcommand(def, name, s.fixed)] : [];
  });
}

export function reportCommand(): Command {
  const reports = [...builtInReports().values()];
  const report = new Command('report').description(`reports from the database, live or offline: ${reports.map((r) => r.name).join(', ')}`);
  for (const def of reports) report.addCommand(reportSubcommand(def));
  return report;
}
