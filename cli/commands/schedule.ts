import type { Command } from 'commander';
import { openLocalRuntime } from '../../tasks/runtime/local-runtime';
import { runDueHours, runSchedule } from '../../tasks/runtime/local-schedule';
import { action, addLakeOption, existingLake, parsePositiveNumber } from '../command-helpers';
import { hourlyProgress } from '../progress';
import { deliverPriceSignals } from '../summary';

export function registerSchedule(program: Command): void {
  addLakeOption(
    program
      .command('schedule')
      .description('run the previous arrival hour shortly after each hour begins, after catching up hours that have raw data but no successful run')
      .option('--delay-minutes <n>', 'minutes after the hour ends before it is run (late Firehose buffers)', '5')
      .option('--once', 'catch up and run what is due now, then exit'),
  ).action(
    action('schedule', async (options: { lake: string; delayMinutes: string; once?: boolean }) => {
      const delayMs = parsePositiveNumber(options.delayMinutes, '--delay-minutes') * 60_000;
      const lake = await existingLake(options.lake);
      const runtime = openLocalRuntime(lake, { onEvent: hourlyProgress(Number.NaN) });
      const schedule = {
        store: runtime.store,
        executions: runtime.executions,
        delayMs,
        start: async (hour: string) => {
          const record = await runtime.runner.start('hourly', { hour });
          process.stderr.write(`  ${await deliverPriceSignals(runtime.pricing)}\n`);
          return record;
        },
      };
      if (options.once) {
        const records = await runDueHours(schedule);
        const failed = records.filter((record) => record.status !== 'SUCCEEDED');
        process.stdout.write(`ran ${records.length} hour(s), ${failed.length} failed\n`);
        if (failed.length > 0) throw new Error(`hours failed: ${failed.map((record) => `${(record.input as { hour: string }).hour} (${record.id})`).join(', ')}`);
        return;
      }
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      process.stderr.write('schedule started; Ctrl-C stops it after the current run\n');
      await runSchedule({
        ...schedule,
        signal: controller.signal,
        onIdle: (next) => process.stderr.write(`  next run at ${next.toISOString()}\n`),
      });
    }),
  );
}
