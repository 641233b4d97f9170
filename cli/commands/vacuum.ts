import type { Command } from 'commander';
import { readLakeSettings } from '../../tasks/runtime/lake-settings';
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
        `keep files this long after they stopped being live; at least ${minimumRetentionHours()} h (the longest task plus the longest query) (default: the lake's vacuum.retentionHours, else ${DEFAULT_RETENTION_HOURS})`,
      )
      .option('--dry-run', 'count what would be deleted, delete nothing'),
  ).action(
    action('vacuum', async (options: { lake: string; retentionHours?: string; dryRun?: boolean }) => {
      const retentionHours = options.retentionHours === undefined ? undefined : parsePositiveNumber(options.retentionHours, '--retention-hours');
      const lake = await existingLake(options.lake);
      const { store, catalog } = createLocalPorts(lake);
      const input = { executionId: `cli-vacuum-${Date.now()}`, ...(retentionHours === undefined ? {} : { retentionHours }) };
      const result = await runVacuum(input, { store, catalog }, { ...readLakeSettings(lake).vacuum, dryRun: options.dryRun === true });
      process.stdout.write(`${describeVacuum(result)}\n`);
    }),
  );
}

export function describeVacuum(result: VacuumResult): string {
  const what = `${formatCount(result.filesDeleted)} ${result.filesDeleted === 1 ? 'file' : 'files'} (${formatBytes(result.bytesDeleted)})`;
  const why = `not live since ${result.cutoff.slice(0, 19)}Z (retention ${result.retentionHours} h)`;
  const hours = `${formatCount(result.clickIndexHoursTrimmed)} ${result.clickIndexHoursTrimmed === 1 ? 'arrival hour' : 'arrival hours'}`;
  const trimmed = result.clickIndexHoursTrimmed === 0 ? '' : result.dryRun ? `; would trim the click index of ${hours}` : `; trimmed the click index of ${hours}`;
  return `${result.dryRun ? `vacuum (dry run): would delete ${what} ${why}` : `vacuum: deleted ${what} ${why}`}${trimmed}`;
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
