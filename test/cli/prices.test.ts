import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { lakehouse, tempDir } from './run-cli';

describe('lakehouse prices', () => {
  it('shows the seeded catalog, no adjustments, and the signals an hourly run left waiting for a model', () => {
    const lake = path.join(tempDir('prices'), 'lake');
    expect(lakehouse(['generate', '--lake', lake, '--from', '2021-07-12T05', '--to', '2021-07-12T06', '--rate', '0.5', '--seed', '3']).stdout).toMatch(
      /products and orders also in their tables/,
    );
    const run = lakehouse(['run', '--lake', lake, '--hour', '2021-07-12T05']);
    expect(run.status).toBe(0);
    const waiting = /no price model is trained, so (\d+) price signal\(s\) wait in the stream/.exec(run.stdout)?.[1];
    expect(Number(waiting)).toBeGreaterThan(0);

    const prices = lakehouse(['prices', '--lake', lake]);

    expect(prices.status).toBe(0);
    expect(prices.stdout).toContain('current prices: 0 of 200 products differ from their base price (--all lists every product)');
    expect(prices.stdout).toContain('latest adjustments: none yet');
    expect(prices.stdout).toContain(`stream: ${waiting} price signal(s) waiting (--deliver delivers them), 0 dead letter(s)`);

    const all = lakehouse(['prices', '--lake', lake, '--all']);
    expect(all.stdout).toMatch(/^ID\s+PRODUCT\s+CATEGORY\s+BASE\s+CURRENT\s+VS BASE\s+FLOOR\s+CEILING\s+CHANGES$/m);
    expect(all.stdout.match(/ 0\.0 % /g)).toHaveLength(200);
  });

  it('says so for a lake without a catalog', () => {
    const lake = path.join(tempDir('prices-empty'), 'lake');
    mkdirSync(lake);

    const prices = lakehouse(['prices', '--lake', lake]);

    expect(prices.status).toBe(0);
    expect(prices.stdout).toBe(`no product catalog in ${lake} yet ("lakehouse generate" seeds one)\n`);
  });
});
