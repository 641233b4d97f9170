import type { Command } from 'commander';
import { startConsole } from '../../console/server';
import { action, addLakeOption, CliError, existingLake } from '../command-helpers';

export function registerConsole(program: Command): void {
  addLakeOption(
    program
      .command('console')
      .description('serve a local web console on 127.0.0.1: analytics, executions (rerun, backfill) and lake health; runs until Ctrl-C')
      .option('--port <n>', 'the port to listen on (0 picks a free one)', '0'),
  ).action(
    action('console', async (options: { lake: string; port: string }) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new CliError(`--port must be a whole number from 0 to 65535, got "${options.port}"`);
      const lake = await existingLake(options.lake);
      const running = await startConsole({ lake, port });
      process.stdout.write(`lakehouse console for ${lake}\n  ${running.url}\n(the token in the URL changes at every start; Ctrl-C stops the console)\n`);
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      const unfinished = running.jobs.list().filter((job) => job.status === 'running');
      await running.close();
      process.stderr.write(
        `lakehouse console: stopped (${signal})${unfinished.length === 0 ? '' : `; ${unfinished.length} job(s) still running end with it, and their executions read as ABORTED`}\n`,
      );
      process.exit(0);
    }),
  );
}
