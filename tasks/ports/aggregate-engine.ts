/**
 * The engine that computes aggregate queries (queries/*.sql) and unloads their results into the
 * object store: DuckDB over the snapshot's files locally, Redshift Spectrum `UNLOAD` through the
 * Redshift Data API on AWS. The aggregate step plans the jobs; a session runs up to its `concurrency` at once.
 */
import type { QueryParameterValues } from '../aggregate/queries';
import type { CatalogSnapshot } from './catalog';
import { InvalidInputError } from './errors';

export interface AggregateEngine {
  /** Starts the jobs of one run of the aggregate step; the caller closes the session, also after a failure. */
  open(run: AggregateRun): Promise<AggregateSession>;
}

/** What every job of one run of the aggregate step shares. */
export interface AggregateRun {
  /**
   * The catalog snapshot the run computes from. DuckDB reads exactly its files; Spectrum reads the
   * Glue tables, which hold what the catalog's latest commit holds.
   */
  readonly snapshot: CatalogSnapshot;
  /** The workflow execution's name: a retry of the step within the execution finds what an earlier attempt left. */
  readonly executionName: string;
  /** The event times each job of the run reads (its `reads`), so that an engine can load once what several jobs read. */
  readonly reads: readonly { readonly start: Date; readonly end: Date }[];
}

export interface AggregateSession {
  /**
   * How many unload calls may be in progress at once. The step keeps jobs that read the same events
   * (the same `reads` window) in one sequence, one after another, so that an engine can load them once.
   * @default 1
   */
  readonly concurrency?: number;
  /**
   * Computes one job and writes each of its outputs, replacing the previous object atomically.
   * Returns the keys written: an empty result may leave no object at all (UNLOAD writes no file
   * then), in which case any previous object at that key is deleted. Failures of the SQL reject
   * with a QueryError naming the query and period.
   */
  unload(job: AggregateUnload): Promise<string[]>;
  /** Releases what the session holds; no call may follow. */
  close(): Promise<void>;
}

/** The event times a job reads, as one key: jobs with the same key read the same events. */
export function readWindowKey({ start, end }: AggregateUnload['reads']): string {
  return `${start.getTime()}/${end.getTime()}`;
}

/** One aggregate result to compute, and where it goes. */
export interface AggregateUnload {
  /** The query's name, from AGGREGATE_QUERIES. */
  readonly query: string;
  /** What the result covers: an event hour `YYYY-MM-DDTHH` or a UTC day `YYYY-MM-DD`. */
  readonly period: string;
  readonly parameters: QueryParameterValues;
  /** The event times the query reads, [start, end): its period widened by its look-back and look-ahead. */
  readonly reads: { readonly start: Date; readonly end: Date };
  /** One object per format, in the order given. */
  readonly outputs: readonly AggregateOutput[];
}

export interface AggregateOutput {
  readonly key: string;
  /** `csv`: `|` delimited with a header, as `UNLOAD ... CSV DELIMITER AS '|' HEADER` writes it. */
  readonly format: 'csv' | 'parquet';
}

/** A session's `concurrency` setting of `engine`, `fallback` when unset; anything but a whole number of at least 1 is refused. */
export function sessionConcurrency(engine: string, value: number | undefined, fallback: number): number {
  const concurrency = value ?? fallback;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InvalidInputError(`${engine}: concurrency is ${concurrency}: expected a whole number of at least 1`);
  return concurrency;
}
