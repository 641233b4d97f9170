import type { Command } from 'commander';
import { createLocalPorts } from '../../tasks/runtime/local-ports';
import { DEFAULT_RETENTION_HOURS, minimumRetentionHours, runVacuum, type VacuumResult } from '../../tasks/vacuum/run';
import { action, addLakeOption, existingLake, parsePositiveNumber } from '../command-helpers';
import { formatCount } from '../render';

export function registerVacuum(program: Command): void {
  addLakeOption(
    program
      .command('vacuum')
      .description('delete curated and rejects files that no catalog snapshot has named for the retention period (replaced partition versions, files of crashed writers)')
      .option(
        '--retention-hours <hours>',
        `keep files this long after they stopped being live; at least ${minimumRetentionHours()} h (the longest task plus the longest query)`,
        String(DEFAULT_RETENTION_HOURS),
      )
      .option('--dry-run', 'count what would be deleted, delete nothing'),
  ).action(
    action('vacuum', async (options: { lake: string; retentionHours: string; dryRun?: boolean }) => {
      const retentionHours = parsePositiveNumber(options.retentionHours, '--retention-hours');
      const lake = await existingLake(options.lake);
      const { store, catalog } = createLocalPorts(lake);
      const result = await runVacuum({ executionId: `cli-vacuum-${Date.now()}`, retentionHours }, { store, catalog }, { dryRun: options.dryRun === true });
      process.stdout.write(`${describeVacuum(result)}\n`);
    }),
  );
}

export function describeVacuum(result: VacuumResult): string {
  const what = `${formatCount(result.filesDeleted)} ${result.filesDeleted === 1 ? 'file' : 'files'} (${formatBytes(result.bytesDeleted)})`;
  const why = `not live since ${result.cutoff.slice(0, 19)}Z (retention ${result.retentionHours} h)`;
  return result.dryRun ? `vacuum (dry run): would delete ${what} ${why}` : `vacuum: deleted ${what} ${why}`;
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
