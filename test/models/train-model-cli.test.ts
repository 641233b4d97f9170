import { existsSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { generateTraffic } from '../../generator/generate';
import { CURRENT_MODEL_KEY, parseModel } from '../../models/demand/artifact';
import { GeoLocator } from '../../tasks/enrich/geo';
import { runMerge } from '../../tasks/merge/run';
import { createLocalPorts } from '../../tasks/runtime/local-ports';
import { hoursBetween } from '../../tasks/shared/hours';
import { lakehouse, tempDir } from '../cli/run-cli';

const FROM = '2021-07-12T09';
const TO = '2021-07-12T13';

const tempDirs: string[] = [];

function newTempDir(label: string): string {
  const dir = tempDir(label);
  tempDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** The one line a failing command prints. */
function failureOf(result: ReturnType<typeof lakehouse>): string {
  expect(result.status).toBe(1);
  expect(result.stderr).toMatch(/^lakehouse train-model: [^\n]+\n$/);
  return result.stderr.trimEnd();
}

describe('lakehouse train-model', () => {
  /**
   * Four hours of traffic, merged into curated events by the merge step itself (without the rest of
   * the hourly workflow, which would take minutes): what train-model reads is the catalog's snapshot.
   */
  const lake = path.join(newTempDir('train-model'), 'lake');

  beforeAll(async () => {
    const ports = createLocalPorts(lake);
    await generateTraffic({ store: ports.store, from: FROM, to: TO, rate: 3, seed: 11 });
    let geo: Promise<GeoLocator> | undefined;
    for (const hour of hoursBetween(FROM, TO)) {
      await runMerge({ hour, executionId: `arn:aws:states:us-east-1:000000000000:execution:lakehouse-hourly:train-model-${hour}` }, { ...ports, geo: () => (geo ??= GeoLocator.open()) });
    }
  });

  it('trains on the curated events and the orders, prints the holdout error against the baseline and the elasticities, and publishes the artifact', () => {
    const result = lakehouse(['train-model', '--lake', lake]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    const [, version, from, holdoutFrom, to] = /^model (\S+): trained on event hours (\S+) \.\. (\S+), measured on \3 \.\. (\S+)$/.exec(lines[0] ?? '') ?? [];
    expect(version).toMatch(/^2021-07-12T1\d-[0-9a-f]{12}$/);
    expect(from! < holdoutFrom! && holdoutFrom! < to!).toBe(true);
    expect(lines[1]).toMatch(/^ {2}holdout: [\d,]+ units of \d+ products$/);
    const [, model, baseline] = /^ {2}RMSE of units per product: model (\d+\.\d\d), price-blind baseline (\d+\.\d\d) \(ratio \d\.\d\d\)$/.exec(lines[2] ?? '') ?? [];
    expect(Number(model)).toBeLessThan(Number(baseline));
    expect(lines[3]).toMatch(/^ {2}category\s+elasticity \(est\. ± sd\)\s+true\s+views\s+units$/);
    for (const [category, truth] of [['accessories', '-2.50'], ['apparel', '-1.90'], ['basketball', '-0.80'], ['running', '-1.10'], ['sneakers', '-1.40']]) {
      expect(result.stdout).toMatch(new RegExp(`\\n {2}${category}\\s+-?\\d\\.\\d\\d ± \\d\\.\\d\\d\\s+${truth}\\s+[\\d,]+\\s+[\\d,]+\\n`));
    }
    const key = `models/demand/v=${version}/model.json`;
    expect(lines.at(-1)).toBe(`  artifact: ${key} (now current)`);
    expect(parseModel(readFileSync(path.join(lake, key), 'utf8'), key).version).toBe(version);
    expect(JSON.parse(readFileSync(path.join(lake, CURRENT_MODEL_KEY), 'utf8'))).toEqual({ version, key });
    // Retraining on the same snapshot publishes the same version.
    expect(lakehouse(['train-model', '--lake', lake]).stdout).toBe(result.stdout);
  });

  it('fails with one line when the lake has too little data', () => {
    const rawOnly = path.join(newTempDir('train-model-raw'), 'lake');
    expect(lakehouse(['generate', '--lake', rawOnly, '--from', FROM, '--to', '2021-07-12T11', '--rate', '1']).status).toBe(0);
    // Orders but no curated events: the hourly workflow has not run.
    expect(failureOf(lakehouse(['train-model', '--lake', rawOnly]))).toMatch(/^lakehouse train-model: too little data: 0 units sold at viewed prices \(0 views\) before /);
    expect(existsSync(path.join(rawOnly, CURRENT_MODEL_KEY))).toBe(false);
  });

  it('fails with one line without a product catalog or a lake', () => {
    expect(failureOf(lakehouse(['train-model', '--lake', newTempDir('train-model-empty')]))).toBe('lakehouse train-model: no product catalog at dims/products.jsonl');
    expect(failureOf(lakehouse(['train-model', '--lake', path.join(newTempDir('train-model-none'), 'missing')]))).toMatch(/^lakehouse train-model: lake directory \S+ does not exist/);
  });
});
