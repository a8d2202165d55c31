/**
 * The built-in processors. A new processor is a folder under `pipelines/`
 * exporting a `Processor`, registered here.
 */
import type { Processor } from '../src/pipeline/processor.js';
import type { Config } from '../src/config/config.js';
import { ConfigError } from '../src/config/config.js';
import { linesProcessor } from './lines/index.js';
import { createUsageProcessor } from './usage/index.js';
import { createSecretsProcessor } from './secrets/index.js';

export type ProcessorFactory = (config: Config) => Processor;

export const BUILT_IN: Record<string, ProcessorFactory> = {
  lines: () => linesProcessor,
  usage: (config) => createUsageProcessor(config),
  secrets: (config) => createSecretsProcessor(config),
};

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
