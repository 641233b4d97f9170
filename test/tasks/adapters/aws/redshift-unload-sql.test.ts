import { checkExternalSchema, redshiftQuerySql, unloadStatement } from '../../../../tasks/adapters/aws/redshift-unload-sql';
import { AGGREGATE_QUERY_NAMES, type QueryParameterValues } from '../../../../tasks/aggregate/queries';
import { InvalidInputError } from '../../../../tasks/ports/errors';

const HOUR_05: QueryParameterValues = {
  hour_start: new Date('2021-07-12T05:00:00Z'),
  hour_end: new Date('2021-07-12T06:00:00Z'),
  day_start: new Date('2021-07-12T00:00:00Z'),
  day_end: new Date('2021-07-13T00:00:00Z'),
  z_threshold: 3,
};
/** What a query of hour 05 with a one-hour look-back reads. */
const READS_04_05 = { start: new Date('2021-07-12T04:00:00Z'), end: new Date('2021-07-12T06:00:00Z') };

describe('redshiftQuerySql', () => {
  it('replaces every parameter by a literal and binds events and users to the external schema', () => {
    const sql = redshiftQuerySql('events_by_name', HOUR_05, 'lake', READS_04_05);
    expect(sql).toContain("\n    where event_time >= CAST('2021-07-12 05:00:00' AS TIMESTAMP) and event_time < CAST('2021-07-12 06:00:00' AS TIMESTAMP)\n");
    expect(sql).toContain(`\nwith\nevents as (select * from "lake".events where dt >= '2021-07-12' and dt <= '2021-07-12' and (dt > '2021-07-12' or hr >= '04') and (dt < '2021-07-12' or hr <= '05')),\nusers as (select user_id, max(segment) as segment from "lake".users group by user_id),\n\nhour_events as (\n`);
    expect(sql.endsWith('\norder by hour, event_name')).toBe(true);
  });

  it.each(AGGREGATE_QUERY_NAMES)('leaves no parameter of %s unreplaced and binds its relations first', (name) => {
    const sql = redshiftQuerySql(name, HOUR_05, 'lake', READS_04_05);
    expect(sql.replace(/--[^\n]*/g, '')).not.toMatch(/\$[a-z_]/i);
    expect(sql).toMatch(/^(--[^\n]*\n)*with\nevents as \(select \* from "lake"\.events where [^\n]*\),\nusers as \(/);
    expect(sql).not.toMatch(/;\s*$/);
  });

  it('writes a number as it is, a negative one in parentheses, and refuses one that is not finite', () => {
    const anomalies = (z: number) => redshiftQuerySql('traffic_anomalies', { ...HOUR_05, z_threshold: z }, 'lake', READS_04_05).replace(/--[^\n]*/g, '');
    expect(anomalies(2.5)).toMatch(/> 2\.5\b/);
    expect(anomalies(-1)).toMatch(/> \(-1\)/);
    expect(() => anomalies(Number.NaN)).toThrow(InvalidInputError);
    expect(() => anomalies(Number.POSITIVE_INFINITY)).toThrow('$z_threshold is Infinity: expected a finite number');
  });

  it('reads the partitions of the hours its window overlaps, across midnight too', () => {
    const sql = redshiftQuerySql('traffic_anomalies', HOUR_05, 'lake', { start: new Date('2021-07-11T05:00:00Z'), end: new Date('2021-07-12T06:00:00Z') });
    expect(sql).toContain(`events as (select * from "lake".events where dt >= '2021-07-11' and dt <= '2021-07-12' and (dt > '2021-07-11' or hr >= '05') and (dt < '2021-07-12' or hr <= '05'))`);
  });

  it('refuses an invalid Date and an external schema that is not a plain lowercase name', () => {
    expect(() => redshiftQuerySql('events_by_name', { ...HOUR_05, hour_start: new Date(Number.NaN) }, 'lake', READS_04_05)).toThrow(InvalidInputError);
    for (const schema of ['Lake', 'lake.events', 'lake"; drop table x; --', '']) {
      expect(() => redshiftQuerySql('events_by_name', HOUR_05, schema, READS_04_05)).toThrow(InvalidInputError);
      expect(() => checkExternalSchema(schema)).toThrow(`invalid external schema "${schema}"`);
    }
  });
});

describe('unloadStatement', () => {
  it('quotes the select with single quotes and backslashes doubled, and unloads CSV as the local engine writes it', () => {
    expect(unloadStatement(`select 'it''s' as a, 'C:\\tmp' as b`, 's3://lake/_staging/x/csv/', 'arn:aws:iam::123456789012:role/unload', 'csv')).toBe(
      [
        `UNLOAD ('select ''it''''s'' as a, ''C:\\\\tmp'' as b')`,
        `TO 's3://lake/_staging/x/csv/'`,
        `IAM_ROLE 'arn:aws:iam::123456789012:role/unload'`,
        `CSV DELIMITER AS '|' HEADER ALLOWOVERWRITE PARALLEL OFF`,
      ].join('\n'),
    );
  });

  it('unloads Parquet without the text options', () => {
    expect(unloadStatement('select 1 as a', 's3://lake/p/', 'arn:aws:iam::123456789012:role/unload', 'parquet').split('\n').at(-1)).toBe('FORMAT AS PARQUET ALLOWOVERWRITE PARALLEL OFF');
  });
});
