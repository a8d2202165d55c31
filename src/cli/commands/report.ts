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

/** One `report <name>` command for a report definition. */
export function reportSubcommand(def: ReportDefinition): Command {
  const cmd = new Command(def.name).description(def.description);
  const attributes = new Map<string, string>();
  for (const p of def.params) {
    const o = new Option(`--${p.name} <${p.valueName ?? 'value'}>`, p.description);
    if (p.choices) o.choices(p.choices);
    if (p.default !== undefined) o.default(p.default);
    cmd.addOption(o);
    attributes.set(p.name, o.attributeName());
  }
  const formats = formatsOf(def);
  cmd.option('--json', `print one JSON object: ${def.jsonShape}`);
  if (formats.includes('csv')) cmd.option('--csv', 'print the rows as CSV with a header line');
  addSettings(cmd, READ_SETTINGS);
  cmd.action((opts: Record<string, unknown>) =>
    guard(async () => {
      const format = formatOf(opts);
      const raw: Record<string, unknown> = {};
      for (const [name, attr] of attributes) raw[name] = opts[attr];
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

export function reportCommand(): Command {
  const reports = [...builtInReports().values()];
  const report = new Command('report').description(`reports from the database, live or offline: ${reports.map((r) => r.name).join(', ')}`);
  for (const def of reports) report.addCommand(reportSubcommand(def));
  return report;
}
