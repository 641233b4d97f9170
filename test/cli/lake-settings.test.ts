import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { lakehouse, tempDir } from './run-cli';

/** The lake's settings file, `lakehouse.json`, as a user writes it: read by every command that runs tasks. */
describe('lakehouse.json', () => {
  const lake = path.join(tempDir('settings'), 'lake');

  beforeAll(() => {
    expect(lakehouse(['generate', '--lake', lake, '--from', '2021-07-12T05', '--to', '2021-07-12T06', '--rate', '0.2']).status).toBe(0);
  }, 120_000);

  afterAll(() => fs.rm(path.dirname(lake), { recursive: true, force: true }));

  it('refuses an unknown setting with one line naming the file and the field, and runs nothing', async () => {
    await fs.writeFile(path.join(lake, 'lakehouse.json'), JSON.stringify({ aggregate: { parquet: true, parquett: true } }));
    const result = lakehouse(['run', '--lake', lake, '--hour', '2021-07-12T05']);
    expect(result.status).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`invalid lake settings ${path.join(lake, 'lakehouse.json')}`);
    expect(result.stderr).toContain('parquett');
    await expect(fs.readdir(path.join(lake, 'curated'))).rejects.toThrow();
  }, 120_000);

  it('writes Parquet aggregates next to the CSV when aggregate.parquet is set', async () => {
    await fs.writeFile(path.join(lake, 'lakehouse.json'), JSON.stringify({ aggregate: { parquet: true } }));
    expect(lakehouse(['run', '--lake', lake, '--hour', '2021-07-12T05']).status).toBe(0);
    const dir = path.join(lake, 'aggregates', 'events_by_name', 'dt=2021-07-12', 'hr=05');
    expect((await fs.readdir(dir)).sort()).toEqual(['events_by_name.csv', 'events_by_name.parquet']);
  }, 120_000);
});
