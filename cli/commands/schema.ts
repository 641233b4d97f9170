import type { Command } from 'commander';
import { describeRawSchema } from '../../tasks/crawl/run';
import { openLocalRuntime } from '../../tasks/runtime/local-runtime';
import { action, addLakeOption, existingLake } from '../command-helpers';

export function registerSchema(program: Command): void {
  addLakeOption(
    program.command('schema').description('show the raw events schema the crawls inferred, and its drift (new fields, type changes) over time'),
  ).action(
    action('schema', async (options: { lake: string }) => {
      const lake = await existingLake(options.lake);
      const snapshot = await openLocalRuntime(lake).catalog.snapshot();
      process.stdout.write(`${describeRawSchema(snapshot)}\n`);
    }),
  );
}
