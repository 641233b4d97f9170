import type { Command } from 'commander';
import { openLocalRuntime } from '../../tasks/runtime/local-runtime';
import { addAwsOptions, AwsWorkflows, awsMode, type AwsCliDependencies, type AwsOptions } from '../aws-workflows';
import { action, addLakeOption, checkHour, CliError, existingLake } from '../command-helpers';
import { hourlyProgress } from '../progress';
import { deliverPriceSignals } from '../summary';
import { describeExecution } from './executions';

export function registerRun(program: Command, aws: AwsCliDependencies = {}): void {
  const command = addLakeOption(
    program
      .command('run')
      .description('run the hourly workflow for one arrival hour (crawl, merge, compact, aggregate, price signals), locally or with --aws on Step Functions')
      .requiredOption('--hour <YYYY-MM-DDTHH>', 'the arrival hour to process, UTC'),
  );
  addAwsOptions(command, 'the ARN of the hourly state machine').action(
    action('run', async (options: { lake: string; hour: string } & AwsOptions) => {
      const hour = checkHour(options.hour, '--hour');
      const onAws = awsMode(options, true);
      if (onAws) {
        await new AwsWorkflows(onAws.region, aws).start(onAws.stateMachineArn, 'hourly', { hour });
        return;
      }
      const lake = await existingLake(options.lake);
      const runtime = openLocalRuntime(lake, { onEvent: hourlyProgress(1) });
      const execution = await runtime.runner.start('hourly', { hour });
      process.stdout.write(`${describeExecution(execution)}\n${await deliverPriceSignals(runtime.pricing)}\n`);
      if (execution.status !== 'SUCCEEDED') {
        throw new CliError(`execution ${execution.id} ${execution.status}: ${execution.error?.error ?? ''} ${execution.error?.cause ?? ''}`.trim());
      }
    }),
  );
}
