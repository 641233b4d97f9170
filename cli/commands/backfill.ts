import type { Command } from 'commander';
import { hoursBetween } from '../../tasks/shared/hours';
import { openLocalRuntime } from '../../tasks/runtime/local-runtime';
import { action, addLakeOption, checkHour, CliError, existingLake, parsePositiveInteger } from '../command-helpers';
import { hourlyProgress } from '../progress';
import { deliverPriceSignals, renderPricingSummary } from '../summary';
import { describeExecution } from './executions';

export function registerBackfill(program: Command): void {
  addLakeOption(
    program
      .command('backfill')
      .description('run the hourly workflow for every arrival hour in [--from, --to), as one backfill execution')
      .requiredOption('--from <YYYY-MM-DDTHH>', 'first arrival hour, UTC (inclusive)')
      .requiredOption('--to <YYYY-MM-DDTHH>', 'end arrival hour, UTC (exclusive)')
      .option('--concurrency <n>', 'hours run at once (the Map state\'s MaxConcurrency)', '4'),
  ).action(
    action('backfill', async (options: { lake: string; from: string; to: string; concurrency: string }) => {
      const from = checkHour(options.from, '--from');
      const to = checkHour(options.to, '--to');
      const concurrency = parsePositiveInteger(options.concurrency, '--concurrency');
      const hours = hoursBetween(from, to);
      const lake = await existingLake(options.lake);
      const runtime = openLocalRuntime(lake, { onEvent: hourlyProgress(hours.length) });
      const execution = await runtime.runner.start('backfill', { from, to, concurrency });
      process.stdout.write(`${describeExecution(execution)}\n${renderPricingSummary(await deliverPriceSignals(runtime.pricing))}\n`);
      if (execution.status !== 'SUCCEEDED') {
        throw new CliError(`execution ${execution.id} ${execution.status}: ${execution.error?.error ?? ''} ${execution.error?.cause ?? ''}`.trim());
      }
    }),
  );
}
