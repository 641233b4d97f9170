import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { generateTraffic, type FaultRates, type GenerationReport } from '../../generator/generate';
import { createLocalPorts } from '../../tasks/runtime/local-ports';
import { hoursBetween } from '../../tasks/shared/hours';
import { action, addLakeOption, checkHour, parseFraction, parsePositiveInteger, parsePositiveNumber } from '../command-helpers';
import { formatCount } from '../render';

interface GenerateOptions {
  lake: string;
  from: string;
  to: string;
  rate: string;
  seed: string;
  late?: string;
  duplicates?: string;
  malformed?: string;
  stringified?: string;
  extraFields?: string;
  clockAhead?: string;
}

export function registerGenerate(program: Command): void {
  addLakeOption(
    program
      .command('generate')
      .description('write synthetic shop traffic into raw/ by arrival hour, as Kinesis Firehose does, plus users, products and orders under dims/ (products and orders also into their tables)')
      .requiredOption('--from <YYYY-MM-DDTHH>', 'first arrival hour, UTC (inclusive)')
      .requiredOption('--to <YYYY-MM-DDTHH>', 'end arrival hour, UTC (exclusive)')
      .option('--rate <events-per-second>', 'on-time events per second', '5')
      .option('--seed <n>', 'random seed: the same seed writes the same bytes', '1')
      .option('--late <fraction>', 'share of events sent minutes to days late')
      .option('--duplicates <fraction>', 'share of events sent twice (same click_id)')
      .option('--malformed <fraction>', 'share of broken records (truncated JSON, wrong types, missing fields)')
      .option('--stringified <fraction>', 'share of records whose additional_data is a JSON string')
      .option('--extra-fields <fraction>', 'share of records with unknown fields (schema drift, second half of the range)')
      .option('--clock-ahead <fraction>', 'share of events from clients whose clock runs ahead'),
  ).action(
    action('generate', async (options: GenerateOptions) => {
      const from = checkHour(options.from, '--from');
      const to = checkHour(options.to, '--to');
      const hours = hoursBetween(from, to).length;
      const rate = parsePositiveNumber(options.rate, '--rate');
      const seed = parsePositiveInteger(options.seed, '--seed');
      const faults = faultRatesOf(options);
      const lake = path.resolve(options.lake);
      await fs.mkdir(lake, { recursive: true });
      const { store, tables } = createLocalPorts(lake);
      const report = await generateTraffic({
        store,
        tables,
        from,
        to,
        rate,
        seed,
        faults,
        onProgress: (hour, done, total) => process.stderr.write(`  generated arrival hour ${hour} (${done}/${total})\n`),
      });
      process.stdout.write(`${describeGeneration(report, hours, options.lake)}\n`);
    }),
  );
}

function faultRatesOf(options: GenerateOptions): Partial<FaultRates> {
  const rates: Partial<FaultRates> = {};
  const set = (key: keyof FaultRates, value: string | undefined, option: string) => {
    if (value !== undefined) rates[key] = parseFraction(value, option);
  };
  set('late', options.late, '--late');
  set('duplicate', options.duplicates, '--duplicates');
  set('malformed', options.malformed, '--malformed');
  set('stringifiedAdditionalData', options.stringified, '--stringified');
  set('extraFields', options.extraFields, '--extra-fields');
  set('clockAhead', options.clockAhead, '--clock-ahead');
  return rates;
}

export function describeGeneration(report: GenerationReport, hours: number, lake: string): string {
  const malformed = Object.values(report.injected.malformed).reduce((sum, count) => sum + count, 0);
  return [
    `generated ${formatCount(report.records)} records (${formatCount(report.events)} events) in ${formatCount(report.objects)} objects over ${hours} arrival hours into ${lake}/raw`,
    `  injected: ${formatCount(report.injected.late)} late, ${formatCount(report.injected.duplicates)} duplicates, ${formatCount(malformed)} malformed, ` +
      `${formatCount(report.injected.stringifiedAdditionalData)} stringified additional_data, ${formatCount(report.injected.extraFields)} with extra fields, ` +
      `${formatCount(report.injected.clockAhead)} from clocks ahead`,
    `  dimensions: ${formatCount(report.users)} users, ${formatCount(report.products)} products, ${formatCount(report.orders)} orders under ${lake}/dims` +
      (report.tablesSeeded ? ', products and orders also in their tables' : ''),
  ].join('\n');
}
