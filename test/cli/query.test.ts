import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { lakehouse, listing, tempDir } from './run-cli';

const HOUR = '2021-07-12T01';
const RAW_DIR = 'raw/2021/07/12/01';
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3,9}Z$/;

/** The records of the hour's raw objects that are JSON objects, counted independently of DuckDB. */
function rawObjectRecords(lake: string): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let count = 0;
  for (const name of readdirSync(path.join(lake, RAW_DIR))) {
    const body = gunzipSync(readFileSync(path.join(lake, RAW_DIR, name)));
    let start = 0;
    while (start < body.length) {
      const end = body.indexOf(0x0a, start) < 0 ? body.length : body.indexOf(0x0a, start);
      try {
        const value: unknown = JSON.parse(decoder.decode(body.subarray(start, end)));
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) count++;
      } catch {
        // broken: not shown by raw_events
      }
      start = end + 1;
    }
  }
  return count;
}

function query(lake: string, sql: string, format?: string) {
  return lakehouse(['query', '--lake', lake, ...(format ? ['--format', format] : []), sql]);
}

function expectOneLineFailure(result: { status: number | null; stdout: string; stderr: string }, pattern: RegExp): void {
  expect(result.status).toBe(1);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

describe('lakehouse query', () => {
  const lake = path.join(tempDir('query'), 'lake');

  beforeAll(() => {
    expect(lakehouse(['generate', '--lake', lake, '--from', '2021-07-12T00', '--to', '2021-07-12T02', '--rate', '0.2']).status).toBe(0);
    const run = lakehouse(['run', '--lake', lake, '--hour', HOUR]);
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('prints an aligned table by default', () => {
    const result = query(lake, `SELECT 'a' AS short, 'a longer value' AS wide, 42 AS n UNION ALL SELECT 'bbbbbbbbbb', NULL, 7 ORDER BY n`);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(['short       wide            n', 'bbbbbbbbbb  NULL            7', 'a           a longer value  42', '(2 rows)', ''].join('\n'));
  });

  it('reads the raw records of the hour the run crawled, with the object each came from', () => {
    const result = query(lake, `SELECT count(*) AS records, count(DISTINCT source_key) AS objects FROM raw_events WHERE source_key LIKE '${RAW_DIR}/%'`, 'json');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([{ records: rawObjectRecords(lake), objects: readdirSync(path.join(lake, RAW_DIR)).length }]);
  });

  it('prints RFC 4180 CSV with a header', () => {
    const result = query(lake, `SELECT 'a,b' AS "comma", 'say "hi"' AS quote, 'two' || chr(10) || 'lines' AS lines, NULL AS missing, 1.5 AS n, true AS flag`, 'csv');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('comma,quote,lines,missing,n,flag\r\n"a,b","say ""hi""","two\nlines",,1.5,true\r\n');

    const perObject = query(lake, 'SELECT source_key, count(*) AS records FROM raw_events GROUP BY ALL ORDER BY source_key', 'csv');
    expect(perObject.status).toBe(0);
    const lines = perObject.stdout.split('\r\n');
    expect(lines[0]).toBe('source_key,records');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(1, -1).every((line) => /^raw\/2021\/07\/12\/\d{2}\/[^,]+\.gz,\d+$/.test(line))).toBe(true);
  });

  it('prints one JSON array of row objects, with timestamps as ISO 8601 strings', () => {
    const result = query(lake, 'SELECT click_id, event_time, arrival_hour, dt, hr, price FROM events ORDER BY event_time, click_id LIMIT 5', 'json');
    expect(result.status).toBe(0);
    const rows = JSON.parse(result.stdout) as Record<string, unknown>[];
    expect(Array.isArray(rows)).toBe(true);
    expect(rows).toHaveLength(5);
    for (const row of rows) {
      expect(Object.keys(row)).toEqual(['click_id', 'event_time', 'arrival_hour', 'dt', 'hr', 'price']);
      expect(row.event_time).toMatch(ISO_TIMESTAMP);
      expect(row.arrival_hour).toBe('2021-07-12T01:00:00.000Z');
      expect(`${row.dt as string}T${row.hr as string}`).toBe((row.event_time as string).slice(0, 13));
    }

    const rejects = query(lake, 'SELECT DISTINCT arrival_hour FROM rejects', 'json');
    expect(rejects.status).toBe(0);
    for (const row of JSON.parse(rejects.stdout) as Record<string, unknown>[]) expect(row).toEqual({ arrival_hour: '2021-07-12T01:00:00.000Z' });
    expect(JSON.parse(query(lake, `SELECT TIMESTAMP '2021-07-12 01:02:03.5' AS t, 1 AS a, 2 AS a`, 'json').stdout)).toEqual([{ t: '2021-07-12T01:02:03.500Z', a: 1, a_1: 2 }]);
  });

  it('prints an empty array for an empty result', () => {
    const result = query(lake, 'SELECT * FROM events WHERE false', 'json');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([]);
  });

  it('reports a SQL error on one line and exits 1', () => {
    expectOneLineFailure(query(lake, 'SELEC * FROM events'), /^lakehouse query: Parser Error: syntax error at or near "SELEC"$/);
    expectOneLineFailure(query(lake, 'SELECT no_such_column FROM events'), /^lakehouse query: Binder Error: Referenced column "no_such_column" not found/);
    expectOneLineFailure(query(lake, 'SELECT 1; SELECT 2'), /^lakehouse query: expected exactly one SQL statement, got 2$/);
  });

  it('rejects an unknown format and a missing lake with one line', () => {
    expectOneLineFailure(query(lake, 'SELECT 1', 'xml'), /^lakehouse: option '--format <format>' argument 'xml' is invalid/);
    expectOneLineFailure(query(path.join(tempDir('query-missing'), 'nowhere'), 'SELECT 1'), /^lakehouse query: lake directory .* does not exist/);
  });

  describe('cannot change the lake', () => {
    it('refuses COPY to a new file in the lake, and creates none', () => {
      const before = listing(lake);
      const target = path.join(lake, 'x.csv');
      expectOneLineFailure(query(lake, `COPY (SELECT 1) TO '${target}'`), /^lakehouse query: Permission Error: Cannot access file/);
      expect(() => statSync(target)).toThrow();
      expect(listing(lake)).toEqual(before);
    });

    it('refuses to overwrite a file the views read, or to attach it as a database', () => {
      const before = listing(lake);
      const rawObject = path.join(lake, RAW_DIR, readdirSync(path.join(lake, RAW_DIR))[0]!);
      const bytes = readFileSync(rawObject);
      expectOneLineFailure(query(lake, `COPY (SELECT 1) TO '${rawObject}' (FORMAT csv, USE_TMP_FILE false)`), /^lakehouse query: only statements that read .* got a COPY statement$/);
      expectOneLineFailure(query(lake, `ATTACH '${rawObject}' AS raw_db`), /^lakehouse query: only statements that read .* got a ATTACH statement$/);
      expect(readFileSync(rawObject).equals(bytes)).toBe(true);
      expect(listing(lake)).toEqual(before);
    });

    it('refuses to read files outside the snapshot', () => {
      const unregistered = path.join(lake, 'raw/2021/07/12/00', readdirSync(path.join(lake, 'raw/2021/07/12/00'))[0]!);
      expectOneLineFailure(query(lake, `SELECT count(*) FROM read_json_objects('${unregistered}')`), /^lakehouse query: Permission Error: Cannot access file/);
    });
  });
});
