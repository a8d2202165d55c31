/**
 * The built-in processors. A new processor is a folder under `pipelines/`
 * whose index exports a `ProcessorDefinition` (its settings, reports and
 * `create`), listed here; nothing in `src/` changes (docs/processors.md).
 */
import type { ProcessorDefinition } from '../src/pipeline/processor.js';
import type { Config } from '../src/config/config.js';
import { processorSettings, selectProcessors as select, type Mode } from '../src/pipeline/registration.js';
import { reportRegistry, type ReportDefinition } from '../src/pipeline/report.js';
import lines from './lines/index.js';
import usage from './usage/index.js';
import secrets from './secrets/index.js';

export const BUILT_IN: Readonly<Record<string, ProcessorDefinition<any>>> = Object.fromEntries(
  [lines, usage, secrets].map((d) => [d.name, d]),
);

const DEFINITIONS = Object.values(BUILT_IN);

/** Every setting the built-in processors declare (flags and variables of `run` or `watch`). */
export const settingsFor = (mode: Mode) => processorSettings(DEFINITIONS, mode);

export const selectProcessors = (config: Config) => select(DEFINITIONS, config);

/** Every built-in report by name (from the definitions: no processor is built). */
export function builtInReports(): Map<string, ReportDefinition> {
  return reportRegistry(DEFINITIONS);
}

/** Every relation the built-in processors export (`session-pipeline export`), in their order. */
export function builtInExports(): string[] {
  return DEFINITIONS.flatMap((d) => d.exports ?? []);
}
