/**
 * The built-in processors. A new processor is a folder under `pipelines/`
 * exporting a `Processor`, registered here.
 */
import type { Processor } from '../src/pipeline/processor.js';
import { reportRegistry, type ReportDefinition } from '../src/pipeline/report.js';
import type { Config } from '../src/config/config.js';
import { ConfigError } from '../src/config/config.js';
import { linesProcessor } from './lines/index.js';
import { createUsageProcessor } from './usage/index.js';
import { USAGE_REPORTS } from './usage/reports.js';
import { createSecretsProcessor } from './secrets/index.js';
import { SECRETS_REPORTS } from './secrets/reports.js';

export type ProcessorFactory = (config: Config) => Processor;

export const BUILT_IN: Record<string, ProcessorFactory> = {
  lines: () => linesProcessor,
  usage: (config) => createUsageProcessor(config),
  secrets: (config) => createSecretsProcessor(config),
};

/**
 * Each built-in processor's reports (the same objects its `reports` holds), known
 * without building it: the CLI lists `report <name>` commands before reading any config.
 */
export const BUILT_IN_REPORTS: Record<string, readonly ReportDefinition[]> = {
  lines: [],
  usage: USAGE_REPORTS,
  secrets: SECRETS_REPORTS,
};

/** Every built-in report by name. */
export function builtInReports(): Map<string, ReportDefinition> {
  return reportRegistry(Object.entries(BUILT_IN_REPORTS).map(([name, reports]) => ({ name, reports })));
}

export function selectProcessors(config: Config): Processor[] {
  const names = config.processors.includes('all') ? Object.keys(BUILT_IN) : config.processors;
  return names.map((n) => {
    const factory = BUILT_IN[n];
    if (!factory) {
      throw new ConfigError(
        `invalid processors (--processors / SESSION_PIPELINE_PROCESSORS): unknown processor "${n}" (known: ${Object.keys(BUILT_IN).join(', ')})`,
      );
    }
    return factory(config);
  });
}
