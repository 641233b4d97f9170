import type { Command } from 'commander';
import { addAwsOptions, AwsWorkflows, awsMode, type AwsCliDependencies, type AwsOptions } from '../aws-workflows';
import { action, CliError } from '../command-helpers';

/**
 * `redrive` is a Step Functions action (RedriveExecution: resume a stopped execution from the states that did
 * not succeed); the local runner has no equivalent, so without --aws the command says what to use instead.
 */
export function registerRedrive(program: Command, aws: AwsCliDependencies = {}): void {
  addAwsOptions(
    program
      .command('redrive <execution-arn>')
      .description('with --aws: redrive a failed, timed-out or aborted Step Functions execution from where it stopped, and follow it (locally, use "lakehouse rerun")'),
  ).action(
    action('redrive', async (executionArn: string, options: AwsOptions) => {
      const onAws = awsMode(options, false);
      if (!onAws) throw new CliError('redrive is a Step Functions action and needs --aws; locally, "lakehouse rerun ID" runs an execution again with the same input');
      await new AwsWorkflows(onAws.region, aws).redrive(executionArn);
    }),
  );
}
