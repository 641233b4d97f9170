import { Command, CommanderError } from 'commander';
import type { AwsCliDependencies } from './aws-workflows';
import { registerBackfill } from './commands/backfill';
import { registerConsole } from './commands/console';
import { registerDemo } from './commands/demo';
import { registerExecutions } from './commands/executions';
import { registerGenerate } from './commands/generate';
import { registerPrices } from './commands/prices';
import { registerQuery } from './commands/query';
import { registerRedrive } from './commands/redrive';
import { registerRun } from './commands/run';
import { registerSchedule } from './commands/schedule';
import { registerSchema } from './commands/schema';
import { registerTrainModel } from './commands/train-model';
import { registerVacuum } from './commands/vacuum';

/** What the commands take from outside the process; everything defaults to the real thing. */
export interface CliDependencies {
  /** The `--aws` mode's Step Functions client, waiting and clock. */
  readonly aws?: AwsCliDependencies;
}

/**
 * The `lakehouse` command. With `exitOverride`, commander's own exits (usage errors, --help, --version)
 * throw a CommanderError instead of ending the process, so that the program can run inside another.
 */
export function createProgram(deps: CliDependencies = {}, options: { readonly exitOverride?: boolean } = {}): Command {
  const program = new Command('lakehouse')
    .description('A clickstream lakehouse: raw events by arrival hour in, sorted and deduplicated event-time partitions and aggregates out, and prices adjusted from demand.')
    .enablePositionalOptions()
    .configureOutput({
      // Commander's own errors (unknown option, missing argument) become the same one-line form as ours.
      outputError: (text, write) => write(`lakehouse: ${text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')}\n`),
    });
  // Before the commands: each copies the setting when it is created.
  if (options.exitOverride) program.exitOverride();

  registerGenerate(program);
  registerRun(program, deps.aws);
  registerBackfill(program, deps.aws);
  registerExecutions(program, deps.aws);
  registerRedrive(program, deps.aws);
  registerSchedule(program);
  registerSchema(program);
  registerVacuum(program);
  registerQuery(program);
  registerPrices(program);
  registerDemo(program);
  registerTrainModel(program);
  registerConsole(program);
  return program;
}

/**
 * Runs one command line (without the node and script arguments) in this process, on a new program, and resolves
 * with its exit code; the process's own exit code is left as it was. Output goes to process.stdout and
 * process.stderr as usual. One at a time: the commands report failure through `process.exitCode`.
 */
export async function runCli(argv: readonly string[], deps: CliDependencies = {}): Promise<number> {
  const previous = process.exitCode;
  process.exitCode = undefined;
  try {
    await createProgram(deps, { exitOverride: true }).parseAsync([...argv], { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    process.stderr.write(`lakehouse: ${(error as Error).message}\n`);
    return 1;
  } finally {
    process.exitCode = previous;
  }
}
