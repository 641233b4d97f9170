import * as path from 'node:path';
import { DEFAULT_GUARDRAILS } from '../../tasks/pricing/guardrails';
import { openLocalRuntime } from '../../tasks/runtime/local-runtime';
import { lakehouse, tempDir } from './run-cli';

function idsIn(text: string, workflow: string): string[] {
  return [...text.matchAll(new RegExp(`^(${workflow}-\\S+)`, 'gm'))].map((match) => match[1] as string);
}

describe('lakehouse run, executions, rerun, backfill', () => {
  const lake = path.join(tempDir('workflows'), 'lake');

  beforeAll(() => {
    const generated = lakehouse(['generate', '--lake', lake, '--from', '2021-07-12T00', '--to', '2021-07-12T03', '--rate', '0.5', '--seed', '7']);
    expect(generated.status).toBe(0);
    expect(generated.stdout).toMatch(/^generated [\d,]+ records/);
  });

  it('runs one hour, records it, shows it and reruns it', () => {
    const run = lakehouse(['run', '--lake', lake, '--hour', '2021-07-12T01']);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/execution hourly-\S+ \(hourly\) SUCCEEDED/);

    const list = lakehouse(['executions', '--lake', lake]);
    expect(list.status).toBe(0);
    const [id] = idsIn(list.stdout, 'hourly');
    expect(id).toBeDefined();
    expect(list.stdout).toMatch(/hourly\s+2021-07-12T01\s+SUCCEEDED/);

    const shown = lakehouse(['executions', 'show', id as string, '--lake', lake]);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toContain('"hour":"2021-07-12T01"');
    expect(shown.stdout).toMatch(/CrawlRawHour\s+Task\s+SUCCEEDED/);
    expect(shown.stdout).toMatch(/"records":[1-9]\d*/);

    const rerun = lakehouse(['rerun', id as string, '--lake', lake]);
    expect(rerun.status).toBe(0);
    expect(rerun.stdout).toMatch(/SUCCEEDED/);
    expect(rerun.stdout).toContain(`rerun of:   ${id}`);
    const after = idsIn(lakehouse(['executions', '--lake', lake]).stdout, 'hourly');
    expect(after).toHaveLength(2);
  });

  it('backfills a range as one execution with one hourly child per hour', () => {
    const backfill = lakehouse(['backfill', '--lake', lake, '--from', '2021-07-12T00', '--to', '2021-07-12T03', '--concurrency', '2']);
    expect(backfill.status).toBe(0);
    expect(backfill.stdout).toMatch(/execution backfill-\S+ \(backfill\) SUCCEEDED/);
    expect(backfill.stderr).toMatch(/\[3\/3\] hour 2021-07-12T0\d succeeded/);
    const [backfillId] = idsIn(lakehouse(['executions', '--lake', lake]).stdout, 'backfill');
    const shown = lakehouse(['executions', 'show', backfillId as string, '--lake', lake]);
    expect(shown.stdout.match(/RunHourlyWorkflow \[\d\]\s+Task\s+SUCCEEDED/g)).toHaveLength(3);
  });

  it('shows the inferred schema and the drift seen across hours', () => {
    const schema = lakehouse(['schema', '--lake', lake]);
    expect(schema.status).toBe(0);
    expect(schema.stdout).toMatch(/click_id\s+string/);
    expect(schema.stdout).toMatch(/additional_data/);
  });
});

describe('lakehouse schedule --once', () => {
  it('catches up hours with raw data and no successful run, then has nothing left to do', () => {
    const lake = path.join(tempDir('schedule'), 'lake');
    expect(lakehouse(['generate', '--lake', lake, '--from', '2021-07-12T00', '--to', '2021-07-12T02', '--rate', '0.2']).status).toBe(0);
    const first = lakehouse(['schedule', '--once', '--lake', lake]);
    expect(first.status).toBe(0);
    // Both raw hours, and the hour that just ended (which has no raw data but is on the schedule).
    expect(first.stdout).toMatch(/^ran 3 hour\(s\), 0 failed/);
    const list = lakehouse(['executions', '--lake', lake]).stdout;
    expect(list).toMatch(/2021-07-12T00\s+SUCCEEDED/);
    expect(list).toMatch(/2021-07-12T01\s+SUCCEEDED/);
    const second = lakehouse(['schedule', '--once', '--lake', lake]);
    expect(second.status).toBe(0);
    // Only a new hour that ended in between could be due now; the caught-up hours are not run again.
    expect(second.stdout).toMatch(/^ran [01] hour\(s\)/);
    const again = lakehouse(['executions', '--lake', lake]).stdout;
    expect(again.match(/2021-07-12T00\s+SUCCEEDED/g)).toHaveLength(1);
    expect(again.match(/2021-07-12T01\s+SUCCEEDED/g)).toHaveLength(1);
  });
});

describe('lakehouse demo', () => {
  it('generates a day, backfills it, trains the price model, applies its prices within the guardrails and prints a summary', async () => {
    const lake = path.join(tempDir('demo'), 'lake');
    const demo = lakehouse(['demo', '--lake', lake, '--rate', '0.2']);
    expect(demo.status).toBe(0);
    expect(demo.stdout).toMatch(/hourly executions: 24 succeeded, 0 failed/);
    expect(demo.stdout).toMatch(/events read: [\d,]+/);
    const number = (label: string) => Number((new RegExp(`${label}:\\s+([\\d,]+)`).exec(demo.stdout)?.[1] ?? 'NaN').replaceAll(',', ''));
    expect(number('accepted') + number('rejected') + number('duplicates')).toBe(number('events read'));
    expect(number('accepted')).toBeGreaterThan(0);
    const model = /^model (\S+): trained on event hours/m.exec(demo.stdout)?.[1];
    expect(model).toBeDefined();
    const adjustments = /^price adjustments: ([\d,]+) price\(s\) changed, ([\d,]+) signal\(s\) held the price/m.exec(demo.stdout);
    const changed = Number(adjustments?.[1]?.replaceAll(',', '') ?? NaN);
    expect(changed).toBeGreaterThan(0);

    // Every change the trained model made is within the guardrails and explained by its audit row.
    const { products, history } = (await openLocalRuntime(lake).pricing.readPrices())!;
    const changes = history.filter((row) => row.decision === 'changed');
    expect(changes).toHaveLength(changed);
    const productOf = new Map(products.map((product) => [product.product_id, product]));
    for (const change of changes) {
      const product = productOf.get(change.product_id)!;
      expect(change.model_version).toBe(model);
      expect(Math.abs(change.new_price / change.old_price - 1)).toBeLessThanOrEqual(DEFAULT_GUARDRAILS.maxChangeFraction + 1e-9);
      expect(change.new_price).toBeGreaterThanOrEqual(Math.max(product.floor_price, product.cost * (1 + DEFAULT_GUARDRAILS.minMarginFraction)) - 1e-9);
      expect(change.new_price).toBeLessThanOrEqual(product.ceiling_price);
      expect(change.reason).toMatch(/^(raised|lowered) \d+\.\d\d -> \d+\.\d\d: /);
    }
    for (const product of products) {
      const own = changes.filter((change) => change.product_id === product.product_id).sort((a, b) => a.event_hour.localeCompare(b.event_hour));
      expect(product.current_price).toBe(own.at(-1)?.new_price ?? product.base_price);
    }
    const prices = lakehouse(['prices', '--lake', lake, '--limit', '3']);
    expect(prices.status).toBe(0);
    expect(prices.stdout).toMatch(/(raised|lowered) \d+\.\d\d -> \d+\.\d\d/);
    const list = lakehouse(['executions', '--lake', lake, '--limit', '100']).stdout;
    expect(idsIn(list, 'hourly')).toHaveLength(24);
    expect(idsIn(list, 'backfill')).toHaveLength(1);
  });
});
