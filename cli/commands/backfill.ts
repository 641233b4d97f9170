import type { Command } from 'commander';
import { MAX_BACKFILL_CONCURRENCY } from '../../tasks/plan-hours/schema';
import { hoursBetween } from '../../tasks/shared/hours';
import { openLocalRuntime } from '../../tasks/runtime/local-runtime';
import { addAwsOptions, AwsWorkflows, awsMode, type AwsCliDependencies, type AwsOptions } from '../aws-workflows';
import { action, addLakeOption, checkHour, CliError, existingLake, parsePositiveInteger } from '../command-helpers';
import { hourlyProgress } from '../progress';
import { deliverPriceSignals } from '../summary';
import { describeExecution } from './executions';

export function registerBackfill(program: Command, aws: AwsCliDependencies = {}): void {
  const command = addLakeOption(
    program
      .command('backfill')
      .description('run the hourly workflow for every arrival hour in [--from, --to), as one backfill execution (locally, or with --aws on Step Functions)')
      .requiredOption('--from <YYYY-MM-DDTHH>', 'first arrival hour, UTC (inclusive)')
      .requiredOption('--to <YYYY-MM-DDTHH>', 'end arrival hour, UTC (exclusive)')
      .option('--concurrency <n>', `hours run at once (the Map state's MaxConcurrency, at most ${MAX_BACKFILL_CONCURRENCY})`, '4'),
  );
  addAwsOptions(command, 'the ARN of the backfill state machine').action(
    action('backfill', async (options: { lake: string; from: string; to: string; concurrency: string } & AwsOptions) => {
      const from = checkHour(options.from, '--from');
      const to = checkHour(options.to, '--to');
      const concurrency = parsePositiveInteger(options.concurrency, '--concurrency');
      if (concurrency > MAX_BACKFILL_CONCURRENCY) throw new CliError(`--concurrency must be at most ${MAX_BACKFILL_CONCURRENCY} (an inline Map's limit), got ${concurrency}`);
      const hours = hoursBetween(from, to);
      const onAws = awsMode(options, true);
      if (onAws) {
        await new AwsWorkflows(onAws.region, aws).start(onAws.stateMachineArn, 'backfill', { from, to, concurrency });
        return;
      }
      const lake = await existingLake(options.lake);
      const runtime = openLocalRuntime(lake, { onEvent: hourlyProgress(hours.length) });
      const execution = await runtime.runner.start('backfill', { from, to, concurrency });
      process.stdout.write(`${describeExecution(execution)}\n${await deliverPriceSignals(runtime.pricing)}\n`);
      if (execution.status !== 'SUCCEEDED') {
        throw new CliError(`execution ${execution.id} ${execution.status}: ${execution.error?.error ?? ''} ${execution.error?.cause ?? ''}`.trim());
      }
    }),
  );
}
