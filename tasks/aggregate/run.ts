import { DuckDbAggregateEngine } from '../adapters/local/duckdb-aggregate-engine';
import { readWindowKey, type AggregateEngine, type AggregateOutput, type AggregateUnload } from '../ports/aggregate-engine';
import type { Catalog, CatalogSnapshot } from '../ports/catalog';
import { InvalidInputError } from '../ports/errors';
import type { ObjectStore } from '../ports/object-store';
import { EVENTS_TABLE, executionNameOf, hourOfPartitionKey } from '../curated/layout';
import { addHours, HOUR_IN_MS, hourStartMs, type Hour } from '../shared/hours';
import { settleAll } from '../shared/settle-all';
import { AGGREGATE_QUERIES, aggregateKey, readWindowOf, type AggregateQuery } from './queries';

export interface AggregateInput {
  /** The workflow execution (`$$.Execution.Id`); its name names the engine's staging area, if it has one. */
  readonly executionId: string;
  /** The arrival hour the run processes, `YYYY-MM-DDTHH`. */
  readonly hour: string;
  /** Keys (`dt=YYYY-MM-DD/hr=HH`) of the event partitions this run's merge changed (`partitionsTouched`). */
  readonly partitions: readonly string[];
}

export interface AggregatePorts {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  /** Computes and unloads each job (RedshiftAggregateEngine on AWS). @default a DuckDbAggregateEngine over `store`, with the DuckDB settings */
  readonly engine?: AggregateEngine;
}

export interface AggregateSettings {
  /** Also write `<query>.parquet` next to each CSV. @default false */
  readonly parquet?: boolean;
  /** `$z_threshold` of traffic_anomalies. @default 3 */
  readonly zThreshold?: number;
}

/** The aggregate step's report; JSON-serialisable, it becomes the Step Functions state output. */
export interface AggregateResult {
  /** Every event hour some hourly query was recomputed for, ascending. */
  readonly hours: string[];
  /** Every UTC day (`YYYY-MM-DD`) the day-level queries were recomputed for, ascending. */
  readonly days: string[];
  readonly queries: string[];
  readonly filesWritten: number;
  /** The catalog version the aggregates were computed from. */
  readonly catalogVersion: number;
}

/** One result to compute: a query over one period (an event hour `YYYY-MM-DDTHH`, or a day `YYYY-MM-DD`). */
export interface AggregateJob {
  readonly query: AggregateQuery;
  readonly period: string;
}

/**
 * Recomputes the aggregates that the changed event partitions can have changed, over the catalog's
 * current snapshot, and unloads each result to `aggregates/<query>/dt=.../hr=.../<query>.csv` as
 * Redshift `UNLOAD ... CSV DELIMITER '|' HEADER` writes it, replacing the previous file atomically,
 * through `ports.engine` (DuckDB locally, Redshift Spectrum through the Data API on AWS).
 *
 * What is recomputed, per query: every touched hour T, and every existing event hour whose result reads
 * T through the query's look-back or look-ahead: T+1 .. T+lookbackHours (e.g. the 24 hours of
 * traffic_anomalies after T, the hour after T for the sliding window and session starts) and
 * T-lookaheadHours .. T-1 (the hour before T, whose sessions may run into T). Day-level queries: every
 * day containing one of those hours. An hour without an events partition is recomputed only if touched.
 * Rows are in each query's ORDER BY, so a rerun over the same snapshot writes identical bytes.
 */
export async function runAggregate(input: AggregateInput, ports: AggregatePorts, settings: AggregateSettings = {}): Promise<AggregateResult> {
  checkInput(input);
  const zThreshold = settings.zThreshold ?? 3;
  if (!Number.isFinite(zThreshold) || zThreshold <= 0) throw new InvalidInputError(`invalid aggregate setting zThreshold ${zThreshold}: expected a positive number`);

  const snapshot = await ports.catalog.snapshot();
  const jobs = planAggregates(input.partitions.map(hourOfPartitionKey), eventHoursOf(snapshot));
  const engine = ports.engine ?? new DuckDbAggregateEngine(ports.store);
  const formats: AggregateOutput['format'][] = settings.parquet ? ['csv', 'parquet'] : ['csv'];
  const unloads = jobs.map(({ query, period }): AggregateUnload => {
    const { start, end } = periodBounds(period);
    return {
      query: query.name,
      period,
      parameters: { hour_start: new Date(start), hour_end: new Date(end), day_start: new Date(start), day_end: new Date(end), z_threshold: zThreshold },
      reads: readWindowOf(query, { start: new Date(start), end: new Date(end) }),
      outputs: formats.map((format) => ({ format, key: aggregateKey(query.name, period, format) })),
    };
  });
  const session = await engine.open({ snapshot, executionName: executionNameOf(input.executionId), reads: unloads.map(({ reads }) => reads) });
  let filesWritten = 0;
  try {
    // Jobs reading the same events one after another, so that an engine can load them once; up to
    // the session's concurrency of such sequences at a time.
    const sequences = new Map<string, AggregateUnload[]>();
    unloads.sort((a, b) => a.reads.start.getTime() - b.reads.start.getTime() || a.reads.end.getTime() - b.reads.end.getTime());
    for (const unload of unloads) {
      const window = readWindowKey(unload.reads);
      const sequence = sequences.get(window) ?? [];
      sequence.push(unload);
      sequences.set(window, sequence);
    }
    const pending = [...sequences.values()];
    let failed = false;
    await settleAll(
      Array.from({ length: Math.max(1, session.concurrency ?? 1) }, async () => {
        for (let sequence = pending.shift(); sequence !== undefined && !failed; sequence = pending.shift()) {
          try {
            for (const unload of sequence) {
              const written = await session.unload(unload);
              filesWritten += written.length;
            }
          } catch (error) {
            failed = true;
            throw error;
          }
        }
      }),
    );
  } finally {
    await session.close();
  }
  const periods = (grain: 'hour' | 'day') => [...new Set(jobs.filter((job) => job.query.grain === grain).map((job) => job.period))].sort();
  return {
    hours: periods('hour'),
    days: periods('day'),
    queries: AGGREGATE_QUERIES.map(({ name }) => name),
    filesWritten,
    catalogVersion: snapshot.version,
  };
}

/**
 * Which (query, period) results depend on the events of `touched` hours, given the event hours that
 * exist; see runAggregate. Ordered by query, then period.
 */
export function planAggregates(touched: readonly Hour[], existing: ReadonlySet<Hour>, queries: readonly AggregateQuery[] = AGGREGATE_QUERIES): AggregateJob[] {
  const jobs: AggregateJob[] = [];
  for (const query of queries) {
    const hours = new Set<Hour>(touched);
    for (const hour of touched) {
      for (let offset = -query.lookaheadHours; offset <= query.lookbackHours; offset++) {
        const dependent = addHours(hour, offset);
        if (existing.has(dependent)) hours.add(dependent);
      }
    }
    const periods = query.grain === 'hour' ? [...hours] : [...new Set([...hours].map((hour) => hour.slice(0, 10)))];
    for (const period of periods.sort()) jobs.push({ query, period });
  }
  return jobs;
}

/** The event hours with at least one file in `snapshot`. */
function eventHoursOf(snapshot: CatalogSnapshot): Set<Hour> {
  const partitions = snapshot.tables[EVENTS_TABLE]?.partitions ?? {};
  return new Set(Object.keys(partitions).filter((key) => partitions[key]!.files.length > 0).map(hourOfPartitionKey));
}

function periodBounds(period: string): { start: number; end: number } {
  if (period.length === 10) {
    const start = hourStartMs(`${period}T00`);
    return { start, end: start + 24 * HOUR_IN_MS };
  }
  const start = hourStartMs(period);
  return { start, end: start + HOUR_IN_MS };
}

function checkInput(input: AggregateInput): void {
  try {
    executionNameOf(input.executionId);
  } catch (error) {
    throw new InvalidInputError((error as Error).message, { cause: error });
  }
  hourStartMs(input.hour);
  for (const partition of input.partitions) {
    try {
      hourOfPartitionKey(partition);
    } catch (error) {
      throw new InvalidInputError(`invalid partition "${partition}": expected dt=YYYY-MM-DD/hr=HH`, { cause: error });
    }
  }
}
