import { statSync } from 'node:fs';
import * as path from 'node:path';
import { lakehouse, listing, tempDir } from './run-cli';

function expectOneLineFailure(result: { status: number | null; stderr: string }, pattern: RegExp): void {
  expect(result.status).not.toBe(0);
  expect(result.status).not.toBeNull();
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

describe('lakehouse CLI on bad input', () => {
  const lake = path.join(tempDir('bad-input'), 'lake');

  beforeAll(() => {
    const generated = lakehouse(['generate', '--lake', lake, '--from', '2021-07-12T00', '--to', '2021-07-12T02', '--rate', '0.2']);
    expect(generated.status).toBe(0);
  });

  it('rejects a malformed hour with one line and leaves the lake as it was', () => {
    const before = listing(lake);
    expectOneLineFailure(lakehouse(['run', '--lake', lake, '--hour', '2021-07-12 05']), /^lakehouse run: --hour: invalid hour "2021-07-12 05": expected YYYY-MM-DDTHH/);
    expectOneLineFailure(lakehouse(['run', '--lake', lake, '--hour', '2021-02-30T05']), /no such date or hour/);
    expect(listing(lake)).toEqual(before);
  });

  it('rejects --from after --to', () => {
    const before = listing(lake);
    expectOneLineFailure(lakehouse(['backfill', '--lake', lake, '--from', '2021-07-12T05', '--to', '2021-07-12T01']), /--from 2021-07-12T05 is after --to 2021-07-12T01/);
    expectOneLineFailure(lakehouse(['generate', '--lake', lake, '--from', '2021-07-12T05', '--to', '2021-07-12T01']), /is after/);
    expect(listing(lake)).toEqual(before);
  });

  it('rejects a lake directory that does not exist, without creating it', () => {
    const missing = path.join(tempDir('missing'), 'nowhere');
    expectOneLineFailure(lakehouse(['run', '--lake', missing, '--hour', '2021-07-12T01']), /^lakehouse run: lake directory .* does not exist/);
    expectOneLineFailure(lakehouse(['executions', '--lake', missing]), /^lakehouse executions: lake directory .* does not exist/);
    expect(() => statSync(missing)).toThrow();
  });

  it('rejects an unknown execution id', () => {
    expectOneLineFailure(lakehouse(['executions', 'show', 'hourly-nope', '--lake', lake]), /^lakehouse executions show: .*hourly-nope/);
    expectOneLineFailure(lakehouse(['rerun', 'hourly-nope', '--lake', lake]), /^lakehouse rerun: .*hourly-nope/);
  });

  it('rejects bad numbers and unknown options with one line', () => {
    expectOneLineFailure(lakehouse(['backfill', '--lake', lake, '--from', '2021-07-12T00', '--to', '2021-07-12T01', '--concurrency', '0']), /--concurrency must be a positive number/);
    expectOneLineFailure(lakehouse(['generate', '--lake', lake, '--from', '2021-07-12T00', '--to', '2021-07-12T01', '--late', '2']), /--late must be a fraction/);
    expectOneLineFailure(lakehouse(['run', '--lake', lake, '--hour', '2021-07-12T01', '--hours', '3']), /^lakehouse: unknown option '--hours'/);
  });

  it('offers --help on every command', () => {
    for (const command of [[], ['generate'], ['run'], ['backfill'], ['executions'], ['executions', 'show'], ['rerun'], ['schedule'], ['schema'], ['query'], ['vacuum'], ['demo']]) {
      const result = lakehouse([...command, '--help']);
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/^Usage: lakehouse/);
    }
  });
});
