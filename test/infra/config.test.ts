import { ConfigError, readLakehouseConfig } from '../../infra/config';
import { cdkJsonContext } from './fixture';

const context = (environment: unknown, env = 'test') => ({ env, environments: { test: environment } });

describe('readLakehouseConfig', () => {
  it('reads every environment of cdk.json', () => {
    const { environments } = cdkJsonContext() as { environments: Record<string, unknown> };
    for (const name of Object.keys(environments)) {
      expect(readLakehouseConfig({ env: name, environments }).name).toBe(name);
    }
  });

  it('fills the defaults of everything but the prefix', () => {
    const config = readLakehouseConfig(context({ prefix: 'lakehouse' }));
    expect(config).toMatchObject({
      name: 'test',
      prefix: 'lakehouse',
      glueDatabase: 'lakehouse',
      removalPolicy: 'retain',
      aggregateEngine: 'redshift',
      schedule: { enabled: true, minute: 5 },
      retention: { rawDays: 365, partitionVersionHours: 72, clickIndexDays: 30, noncurrentVersionDays: 7, logDays: 30 },
      compaction: { targetFileBytes: 128 * 1024 * 1024 },
      ingestion: { shards: 2 },
      lakeFormation: { manageSettings: true, admins: [] },
    });
  });

  it('derives the Glue database from the prefix', () => {
    expect(readLakehouseConfig(context({ prefix: 'lake-house-dev' })).glueDatabase).toBe('lake_house_dev');
  });

  it('refuses an unknown environment in one line naming the ones there are', () => {
    expect(() => readLakehouseConfig(context({ prefix: 'lakehouse' }, 'prod'))).toThrow(new ConfigError('no environment "prod": pass -c env=<name>, one of test'));
  });

  it('refuses an invalid setting in one line naming it', () => {
    const error = captureError(() => readLakehouseConfig(context({ prefix: 'lakehouse', aggregateEngine: 'bigquery', retention: { rawDays: -1 } })));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).not.toContain('\n');
    expect(error.message).toMatch(/^invalid environment "test" in cdk.json context: /);
    expect(error.message).toContain('environments.test.aggregateEngine');
    expect(error.message).toContain('environments.test.retention.rawDays');
  });

  it('refuses unknown settings, so that a typo does not pass silently', () => {
    expect(() => readLakehouseConfig(context({ prefix: 'lakehouse', schedul: {} }))).toThrow(/Unrecognized key/);
  });

  it('refuses a prefix too long for the bucket names', () => {
    expect(() => readLakehouseConfig(context({ prefix: 'a-very-long-prefix-indeed' }))).toThrow(/environments\.test\.prefix/);
  });
});

function captureError(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}
