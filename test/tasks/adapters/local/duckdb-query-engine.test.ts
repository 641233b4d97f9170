import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DuckDbQueryEngine } from '../../../../tasks/adapters/local/duckdb-query-engine';
import { sqlString } from '../../../../tasks/shared/sql-text';
import { QueryError } from '../../../../tasks/ports/query-engine';

let engine: DuckDbQueryEngine;

beforeEach(async () => {
  engine = await DuckDbQueryEngine.open({ threads: 1 });
});

afterEach(async () => {
  await engine.close();
});

async function one(sql: string, params?: readonly unknown[]): Promise<unknown> {
  const { rows } = await engine.query(sql, params);
  return rows[0]![0];
}

async function failure(call: Promise<unknown>): Promise<Error> {
  const error = await call.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

describe('DuckDbQueryEngine', () => {
  it('returns column names and DuckDB type names', async () => {
    const result = await engine.query(`SELECT 1::BIGINT AS n, 'x' AS s, TIMESTAMP '2021-07-12 05:00:00' AS t, '{}'::JSON AS j, 1.5::DECIMAL(10,2) AS d`);
    expect(result.columns).toEqual([
      { name: 'n', type: 'BIGINT' },
      { name: 's', type: 'VARCHAR' },
      { name: 't', type: 'TIMESTAMP' },
      { name: 'j', type: 'JSON' },
      { name: 'd', type: 'DECIMAL(10,2)' },
    ]);
  });

  it('converts integers to numbers, and to decimal strings beyond the safe range', async () => {
    const { rows } = await engine.query(
      'SELECT 42::TINYINT, 9007199254740991::BIGINT, 9007199254740993::BIGINT, (-9223372036854775808)::BIGINT, 170141183460469231731687303715884105727::HUGEINT, 18446744073709551615::UBIGINT',
    );
    expect(rows[0]).toEqual([42, 9007199254740991, '9007199254740993', '-9223372036854775808', '170141183460469231731687303715884105727', '18446744073709551615']);
  });

  it('converts decimals, doubles and booleans to plain values', async () => {
    const { rows } = await engine.query(`SELECT 123.456::DECIMAL(18,3), 0.1::DOUBLE, 2.5::FLOAT, true, NULL`);
    expect(rows[0]).toEqual([123.456, 0.1, 2.5, true, null]);
  });

  it('writes timestamps as ISO 8601 in UTC with Z, keeping sub-millisecond digits only when present', async () => {
    const { rows } = await engine.query(
      `SELECT TIMESTAMP '2021-07-12 05:06:07', TIMESTAMP '2021-07-12 05:06:07.123', TIMESTAMP '2021-07-12 05:06:07.123456',
              TIMESTAMP '1969-12-31 23:59:59.999999', TIMESTAMPTZ '2021-07-12 05:00:00+02', TIMESTAMP_MS '2021-07-12 05:06:07.5',
              TIMESTAMP_S '2021-07-12 05:06:07', TIMESTAMP_NS '2021-07-12 05:06:07.123456789', 'infinity'::TIMESTAMP, '-infinity'::TIMESTAMP`,
    );
    expect(rows[0]).toEqual([
      '2021-07-12T05:06:07.000Z',
      '2021-07-12T05:06:07.123Z',
      '2021-07-12T05:06:07.123456Z',
      '1969-12-31T23:59:59.999999Z',
      '2021-07-12T03:00:00.000Z',
      '2021-07-12T05:06:07.500Z',
      '2021-07-12T05:06:07.000Z',
      '2021-07-12T05:06:07.123456789Z',
      'infinity',
      '-infinity',
    ]);
  });

  it('gives JSON as its text and other scalar types as their SQL text', async () => {
    const { rows } = await engine.query(
      `SELECT '{"a": [1, 2]}'::JSON, DATE '2021-07-12', TIME '05:06:07', INTERVAL 90 MINUTE, '6f5b9f4e-1c8a-4c41-9d3b-6a1f0f0e2b11'::UUID`,
    );
    expect(rows[0]).toEqual(['{"a": [1, 2]}', '2021-07-12', '05:06:07', '01:30:00', '6f5b9f4e-1c8a-4c41-9d3b-6a1f0f0e2b11']);
  });

  it('turns nested values into plain arrays and objects', async () => {
    const value = await one(`SELECT {'n': 9007199254740993::BIGINT, 'ts': [TIMESTAMP '2021-07-12 05:00:00'], 'm': MAP {'k': 1.5::DECIMAL(4,2)}, 'fixed': [1, 2]::INTEGER[2]}`);
    expect(value).toEqual({ n: '9007199254740993', ts: ['2021-07-12T05:00:00.000Z'], m: { k: 1.5 }, fixed: [1, 2] });
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(await one('SELECT MAP {[1]: 2}')).toEqual([{ key: [1], value: 2 }]);
  });

  it('binds positional parameters, never splicing them into the SQL', async () => {
    const { rows } = await engine.query('SELECT $1 AS s, $2 + 1 AS n, $3 AS t, $4 AS b, $5 AS missing, len($6) AS items', [
      "it's ' OR 1=1 --",
      41,
      new Date('2021-07-12T05:00:00.250Z'),
      9007199254740993n,
      null,
      ['a', 'b', 'c'],
    ]);
    expect(rows[0]).toEqual(["it's ' OR 1=1 --", 42, '2021-07-12T05:00:00.250Z', '9007199254740993', null, 3]);
    expect(await one('SELECT count(*) FROM range(10) WHERE range >= ?', [7])).toBe(3);
  });

  it('refuses parameters it cannot bind, as a QueryError', async () => {
    const error = await failure(engine.query('SELECT $1', [{ a: 1 }]));
    expect(error.name).toBe('QueryError');
    expect(error.message).toMatch(/parameter \$1: cannot bind a Object/);
  });

  it('turns DuckDB errors into a QueryError named QueryError with the message on one line', async () => {
    for (const sql of ['SELEC 1', 'SELECT nope FROM range(3)', `SELECT CAST('x' AS INTEGER)`]) {
      const error = await failure(engine.query(sql));
      expect(error).toBeInstanceOf(QueryError);
      expect(error.name).toBe('QueryError');
      expect(error.message).not.toContain('\n');
      expect((error.cause as Error).message).toContain(error.message.slice(0, 20));
    }
    expect((await failure(engine.query('SELEC 1'))).message).toBe('Parser Error: syntax error at or near "SELEC"');
    expect((await failure(engine.query('SELECT nope FROM range(3)'))).message).toMatch(/^Binder Error: Referenced column "nope" not found/);
    expect((await failure(engine.run('CREATE VIEW v AS SELECT nope'))).name).toBe('QueryError');
  });

  it('runs statements for their effect', async () => {
    await engine.run('CREATE TABLE t AS SELECT range AS n FROM range(5)');
    await engine.run('INSERT INTO t VALUES ($1)', [99]);
    expect(await one('SELECT sum(n) FROM t')).toBe(109);
  });

  it('lets other local adapters use the DuckDB connection', async () => {
    await engine.connection.run('CREATE TABLE shared AS SELECT 7 AS n');
    expect(await one('SELECT n FROM shared')).toBe(7);
  });

  describe('queryReadOnly', () => {
    it('runs one statement that reads', async () => {
      expect((await engine.queryReadOnly('FROM range(3) SELECT count(*) AS n')).rows).toEqual([[3]]);
      expect((await engine.queryReadOnly('DESCRIBE SELECT 1 AS n')).rows[0]![0]).toBe('n');
    });

    it('refuses statements that write or change settings, before they run', async () => {
      await engine.run('CREATE TABLE t AS SELECT 1 AS n');
      for (const sql of ['INSERT INTO t VALUES (2)', 'CREATE TABLE u AS SELECT 1', `ATTACH ':memory:' AS other`, 'SET threads = 2', 'EXPLAIN ANALYZE SELECT 1']) {
        const error = await failure(engine.queryReadOnly(sql));
        expect(error.name).toBe('QueryError');
        expect(error.message).toMatch(/only statements that read .* may run here, got a [A-Z_]+ statement/);
      }
      expect(await one('SELECT count(*) FROM t')).toBe(1);
      expect(await one('SELECT count(*) FROM duckdb_databases() WHERE database_name = $1', ['other'])).toBe(0);
    });

    it('refuses more than one statement, so nothing can ride along', async () => {
      const error = await failure(engine.queryReadOnly('SELECT 1; CREATE TABLE u AS SELECT 1'));
      expect(error.message).toBe('expected exactly one SQL statement, got 2');
      expect(await one(`SELECT count(*) FROM duckdb_tables() WHERE table_name = 'u'`)).toBe(0);
    });
  });

  describe('confineTo', () => {
    let dir: string;

    beforeEach(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'duckdb-engine-'));
    });

    afterEach(async () => {
      await fs.rm(dir, { recursive: true, force: true });
    });

    it('keeps the listed files readable through views created before, and every other file out of reach', async () => {
      const allowed = path.join(dir, 'allowed.parquet');
      const other = path.join(dir, 'other.parquet');
      await engine.run(`COPY (SELECT 1 AS n) TO ${sqlString(allowed)} (FORMAT parquet)`);
      await engine.run(`COPY (SELECT 2 AS n) TO ${sqlString(other)} (FORMAT parquet)`);
      await engine.run(`CREATE VIEW v AS SELECT * FROM read_parquet([${sqlString(allowed)}])`);

      await engine.confineTo([allowed]);

      expect(await one('SELECT n FROM v')).toBe(1);
      expect((await failure(engine.query(`SELECT * FROM read_parquet(${sqlString(other)})`))).message).toMatch(/^Permission Error: Cannot access file/);
      expect((await failure(engine.query(`COPY (SELECT 1) TO ${sqlString(path.join(dir, 'x.csv'))}`))).name).toBe('QueryError');
      await expect(fs.access(path.join(dir, 'x.csv'))).rejects.toThrow();
    });

    it('locks the configuration so that SQL cannot lift the confinement', async () => {
      await engine.confineTo([]);
      for (const sql of ['SET enable_external_access = true', `SET allowed_directories = [${sqlString(dir)}]`, 'RESET allowed_paths', 'SET lock_configuration = false']) {
        expect((await failure(engine.run(sql))).message).toMatch(/locked|Cannot change/);
      }
    });
  });
});
