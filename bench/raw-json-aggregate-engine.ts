import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { AGGREGATE_MEMORY_LIMIT, computeAggregateResult, createUsersView, UNLOAD_CSV_OPTIONS } from '../tasks/adapters/local/duckdb-aggregate-engine';
import { DuckDbQueryEngine } from '../tasks/adapters/local/duckdb-query-engine';
import { sqlString } from '../tasks/shared/sql-text';
import { FsObjectStore } from '../tasks/adapters/local/fs-object-store';
import type { AggregateEngine, AggregateSession, AggregateUnload } from '../tasks/ports/aggregate-engine';
import { rawEventsSql } from './raw-events';

export interface RawJsonAggregateEngineProps {
  /** The lake directory whose raw objects `events` reads, and whose users dimension `users` reads. */
  readonly lake: string;
  /** Where results go, each at its aggregate key under this directory, so that the lake's aggregates stay as the step wrote them. */
  readonly out: string;
}

/**
 * The aggregate engine without the curated layout, for the benchmark: the aggregate step, given this
 * engine, runs the same queries on the same jobs with the same parameters, but `events` is a view over
 * the raw JSON objects of the lake (rawEventsSql), so that its time against the step's is the measured
 * gain of curated Parquet.
 *
 * A cost comparison, not a correctness one: broken lines are skipped (`ignore_errors`), nothing is
 * deduplicated, and `country` and `region` are NULL (geolocation is the merge's). A job's read window is
 * no help here: raw objects are partitioned by arrival, not event time, and an event hour's events may be
 * in any object that arrived at or after it (or an hour before, for a client clock running ahead); in the
 * bench's lake of one arrival hour that is every object, so every job reads every raw object.
 *
 * Results are written with DuckDB's `COPY` as the DuckDB engine writes a job's CSV (UNLOAD_CSV_OPTIONS),
 * or as Parquet; timestamps are not cut to the second: a small share of a job that reads the whole lake.
 */
export class RawJsonAggregateEngine implements AggregateEngine {
  private rows = 0;

  constructor(private readonly props: RawJsonAggregateEngineProps) {}

  /** Rows written over every session, every format counted. */
  get rowsWritten(): number {
    return this.rows;
  }

  async open(): Promise<AggregateSession> {
    const { lake, out } = this.props;
    // The step's DuckDB memory limit, one thread per core; one connection, so one job at a time where the
    // step runs two side by side (each raw job reads every object and keeps both cores busy on its own).
    const engine = await DuckDbQueryEngine.open({ memoryLimit: AGGREGATE_MEMORY_LIMIT, tempDirectory: path.join(out, 'spill') });
    try {
      await createUsersView(engine, new FsObjectStore(lake));
      await engine.run(`CREATE VIEW events AS SELECT *, CAST(NULL AS VARCHAR) AS country, CAST(NULL AS VARCHAR) AS region FROM (${rawEventsSql(lake)})`);
    } catch (error) {
      await engine.close();
      throw error;
    }
    return {
      unload: (job) => this.unload(engine, job),
      close: () => engine.close(),
    };
  }

  private async unload(engine: DuckDbQueryEngine, job: AggregateUnload): Promise<string[]> {
    await computeAggregateResult(engine, job);
    for (const { key, format } of job.outputs) {
      const file = path.join(this.props.out, key);
      await fs.mkdir(path.dirname(file), { recursive: true });
      const options = format === 'csv' ? UNLOAD_CSV_OPTIONS : 'FORMAT parquet';
      const copied = await engine.connection.run(`COPY aggregate_result TO ${sqlString(file)} (${options})`);
      this.rows += Number(copied.rowsChanged);
    }
    return job.outputs.map(({ key }) => key);
  }
}
