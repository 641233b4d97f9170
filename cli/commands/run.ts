import type { Command } from 'commander';
import { openLocalRuntime } from '../../tasks/runtime/local-runtime';
import { action, addLakeOption, checkHour, CliError, existingLake } from '../command-helpers';
import { hourlyProgress } from '../progress';
import { deliverPriceSignals, renderPricingSummary } from '../summary';
import { describeExecution } from './executions';

export function registerRun(program: Command): void {
  addLakeOption(
    program
      .command('run')
      .description('run the hourly workflow for one arrival hour (crawl, merge, compact, aggregate, price signals)')
      .requiredOption('--hour <YYYY-MM-DDTHH>', 'the arrival hour to process, UTC'),
  ).action(
    action('run', async (options: { lake: string; hour: string }) => {
      const hour = checkHour(options.hour, '--hour');
      const lake = await existingLake(options.lake);
      const runtime = openLocalRuntime(lake, { onEvent: hourlyProgress(1) });
      const execution = await runtime.runner.start('hourly', { hour });
      process.stdout.write(`${describeExecution(execution)}\n${renderPricingSummary(await deliverPriceSignals(runtime.pricing))}\n`);
      if (execution.status !== 'SUCCEEDED') {
        throw new CliError(`execution ${execution.id} ${execution.status}: ${execution.error?.error ?? ''} ${execution.error?.cause ?? ''}`.trim());
      }
    }),
  );
}
