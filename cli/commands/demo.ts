import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { generateTraffic } from '../../generator/generate';
import { CURRENT_MODEL_KEY } from '../../models/demand/artifact';
import { trainAndPublish } from '../../models/demand/train-from-lake';
import { InsufficientDataError } from '../../models/demand/train';
import { addHours, hoursBetween } from '../../tasks/shared/hours';
import { openLocalRuntime, type LocalRuntime } from '../../tasks/runtime/local-runtime';
import { action, addLakeOption, CliError, parsePositiveInteger, parsePositiveNumber } from '../command-helpers';
import { hourlyProgress } from '../progress';
import { deliverPriceSignals, renderRunSummary, summarizeHourlyRuns } from '../summary';
import { describeGeneration } from './generate';
import { describeTraining } from './train-model';

export function registerDemo(program: Command): void {
  addLakeOption(
    program
      .command('demo')
      .description('generate a day of traffic, backfill it through the hourly workflow, and print what happened')
      .option('--day <YYYY-MM-DD>', 'the day of traffic to generate, UTC', '2021-07-12')
      .option('--rate <events-per-second>', 'on-time events per second', '2')
      .option('--seed <n>', 'random seed', '1')
      .option('--concurrency <n>', 'hours run at once', '4'),
  ).action(
    action('demo', async (options: { lake: string; day: string; rate: string; seed: string; concurrency: string }) => {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(options.day)) throw new CliError(`--day must be YYYY-MM-DD, got "${options.day}"`);
      const from = `${options.day}T00`;
      const to = addHours(from, 24);
      const hours = hoursBetween(from, to);
      const rate = parsePositiveNumber(options.rate, '--rate');
      const seed = parsePositiveInteger(options.seed, '--seed');
      const concurrency = parsePositiveInteger(options.concurrency, '--concurrency');
      const lake = path.resolve(options.lake);
      await fs.mkdir(lake, { recursive: true });

      process.stderr.write(`1/3 generating ${options.day} (${hours.length} arrival hours, ${rate} events/s) into ${options.lake}\n`);
      const runtime = openLocalRuntime(lake, { onEvent: hourlyProgress(hours.length) });
      const report = await generateTraffic({
        store: runtime.store,
        tables: runtime.tables,
        from,
        to,
        rate,
        seed,
        onProgress: (_hour, done, total) => {
          if (done % 6 === 0 || done === total) process.stderr.write(`  generated ${done}/${total} hours\n`);
        },
      });
      process.stdout.write(`${describeGeneration(report, hours.length, options.lake)}\n`);

      process.stderr.write(`2/3 backfilling ${from} .. ${to} through the hourly workflow (concurrency ${concurrency})\n`);
      const started = Date.now();
      const backfill = await runtime.runner.start('backfill', { from, to, concurrency });
      const hourly = (await runtime.executions.list()).filter((record) => record.parentId === backfill.id);
      const durationMs = Date.now() - started;
      process.stdout.write(`\nbackfill ${backfill.id} ${backfill.status}\n${renderRunSummary(summarizeHourlyRuns(hourly, durationMs))}\n`);
      if (backfill.status === 'SUCCEEDED') process.stdout.write(`\n${await trainModelUnlessOne(runtime)}\n`);
      process.stdout.write(`${await deliverPriceSignals(runtime.pricing)}\n`);
      process.stdout.write(`\nnext: "npx lakehouse executions" lists the runs, "npx lakehouse rerun <id>" reruns one, "npx lakehouse schema" shows the schema and its drift\n`);
      if (backfill.status !== 'SUCCEEDED') {
        throw new CliError(`backfill ${backfill.id} ${backfill.status}: ${backfill.error?.error ?? ''} ${backfill.error?.cause ?? ''}`.trim());
      }
    }),
  );
}

/**
 * The demo's day is enough history to fit the demand model, so the demo trains one (unless the lake
 * already has a model, which it keeps) and its price signals are delivered in the same run.
 */
async function trainModelUnlessOne(runtime: LocalRuntime): Promise<string> {
  if (await runtime.store.exists(CURRENT_MODEL_KEY)) return 'price model: the lake\'s current model serves (retrain with "lakehouse train-model")';
  process.stderr.write('3/3 training the price model on the curated day and its orders\n');
  try {
    return describeTraining(await trainAndPublish(runtime));
  } catch (error) {
    if (error instanceof InsufficientDataError) return `price model: none trained: ${error.message}`;
    throw error;
  }
}
