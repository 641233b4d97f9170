import { Command } from 'commander';
import { registerBackfill } from './commands/backfill';
import { registerDemo } from './commands/demo';
import { registerExecutions } from './commands/executions';
import { registerGenerate } from './commands/generate';
import { registerPrices } from './commands/prices';
import { registerQuery } from './commands/query';
import { registerRun } from './commands/run';
import { registerSchedule } from './commands/schedule';
import { registerSchema } from './commands/schema';
import { registerTrainModel } from './commands/train-model';
import { registerVacuum } from './commands/vacuum';

const program = new Command('lakehouse')
  .description('A clickstream lakehouse: raw events by arrival hour in, sorted and deduplicated event-time partitions and aggregates out, and prices adjusted from demand.')
  .enablePositionalOptions()
  .configureOutput({
    // Commander's own errors (unknown option, missing argument) become the same one-line form as ours.
    outputError: (text, write) => write(`lakehouse: ${text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')}\n`),
  });

registerGenerate(program);
registerRun(program);
registerBackfill(program);
registerExecutions(program);
registerSchedule(program);
registerSchema(program);
registerVacuum(program);
registerQuery(program);
registerPrices(program);
registerDemo(program);
registerTrainModel(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`lakehouse: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
