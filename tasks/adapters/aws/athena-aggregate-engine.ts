import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  type AthenaClient,
  type ColumnInfo,
  type QueryExecution,
} from '@aws-sdk/client-athena';
import { sessionConcurrency, type AggregateEngine, type AggregateOutput, type AggregateRun, type AggregateSession, type AggregateUnload } from '../../ports/aggregate-engine';
import { InvalidInputError } from '../../ports/errors';
import type { ObjectStore } from '../../ports/object-store';
import { QueryError } from '../../ports/query-engine';
import { csvLine } from '../../aggregate/aggregate-csv';
import { AGGREGATES_STAGING_PREFIX } from '../../aggregate/queries';
import { athenaQuerySql, athenaUnloadStatement, checkGlueDatabase } from './athena-query-sql';

/** The first wait before GetQueryExecution; each later one doubles, up to MAX_POLL_DELAY_MS. */
const FIRST_POLL_DELAY_MS = 200;
const MAX_POLL_DELAY_MS = 5_000;
/** How many query executions one output may take while Athena calls each failure retryable. */
const MAX_EXECUTIONS = 3;
/** Rows per GetQueryResults call: the most Athena gives. */
const RESULT_PAGE_SIZE = 1000;

export interface AthenaAggregateEngineProps {
  /** The Athena client, built by the caller (region, credentials, retries). */
  readonly client: AthenaClient;
  /** The lake: Parquet is staged in it by UNLOAD (so `locate` must give `s3://` URLs for Parquet) and results are written to it. */
  readonly store: ObjectStore;
  /** The workgroup the queries run in; its result location (or managed results) holds the CSV results Athena writes. */
  readonly workGroup: string;
  /** The Glue database holding the tables `events` and `users`. */
  readonly database: string;
  /** The data catalog of `database`. @default 'AwsDataCatalog' */
  readonly catalog?: string;
  /** Where UNLOAD writes Parquet before it moves to its key; outside every prefix a reader lists. @default '_staging/aggregates/' */
  readonly stagingPrefix?: string;
  /** How long the query executions of one output may run before the current one is stopped. @default 300000 (5 minutes, of the step's 15) */
  readonly queryTimeoutMs?: number;
  /**
   * Jobs in progress at once. Athena queries are independent, and a run with late events has hundreds
   * of jobs of a few seconds each: one at a time would outlast the step's 15 minutes. @default 8
   */
  readonly concurrency?: number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Milliseconds of a monotonic clock. @default performance.now */
  readonly now?: () => number;
}

/** One output of one job of one run, as the engine names it. */
interface OutputStep {
  readonly executionName: string;
  readonly job: AggregateUnload;
  readonly output: AggregateOutput;
  /** `aggregate <query> for <period> (<format>)`, for messages. */
  readonly label: string;
}

/**
 * The aggregate engine on Athena, the alternative to Redshift Spectrum: each job's query, in its
 * Athena form (athena-query-sql.ts), runs over the Glue tables (not the snapshot's files).
 *
 * CSV: a plain SELECT, whose rows are read back with GetQueryResults and written in the project's
 * CSV by the local engine's encoder. Athena's own CSV cannot be used as it is: UNLOAD's TEXTFILE
 * writes no header, NULL as `\N` and never quotes (a `|` or line break inside a value breaks the
 * row), and a SELECT's result file is comma-delimited with every value quoted. GetQueryResults tells
 * NULL (a datum without a value) from an empty string, which readers of the result file find it does
 * not, and needs no access to the workgroup's result location, which may be another bucket or
 * managed by Athena. Aggregate
 * results are small (hundreds of rows; 1000 a page), so the paging costs little.
 *
 * Parquet: `UNLOAD ... WITH (format = 'PARQUET')` to a staging prefix of its own query execution;
 * the one file it writes then moves to its key through the object store (get and put: S3 has no
 * rename), as the Redshift engine moves its file.
 *
 * Each query execution has a ClientRequestToken derived from the workflow execution, query, period,
 * format and query text, so a retry of the step gets back the execution an earlier attempt started
 * instead of running the query again. A failure Athena calls retryable moves on to a new execution
 * (a new token) up to MAX_EXECUTIONS; another failure, or a stopped query, fails the retry of the
 * step the same way. A staging prefix is not emptied before UNLOAD (it may hold what the same
 * execution wrote for an earlier attempt); after a move a marker stays beside it, so that a retry
 * that finds the execution done and its file moved does not take it for an empty result.
 */
export class AthenaAggregateEngine implements AggregateEngine {
  private readonly catalog: string;
  private readonly stagingPrefix: string;
  private readonly queryTimeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly concurrency: number;
  private readonly now: () => number;

  constructor(private readonly props: AthenaAggregateEngineProps) {
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(props.workGroup)) {
      throw new InvalidInputError(`Athena aggregate engine: invalid workGroup "${props.workGroup}": expected 1 to 128 letters, digits, '.', '_' or '-'`);
    }
    checkGlueDatabase(props.database);
    this.catalog = props.catalog ?? 'AwsDataCatalog';
    if (this.catalog.length === 0 || this.catalog.length > 256) throw new InvalidInputError(`Athena aggregate engine: invalid catalog "${this.catalog}": expected 1 to 256 characters`);
    this.stagingPrefix = props.stagingPrefix ?? AGGREGATES_STAGING_PREFIX;
    if (!/^[^/].*\/$/.test(this.stagingPrefix)) throw new InvalidInputError(`Athena aggregate engine: staging prefix "${this.stagingPrefix}" must be a key prefix ending with /`);
    this.queryTimeoutMs = props.queryTimeoutMs ?? 300_000;
    if (!(this.queryTimeoutMs > 0)) throw new InvalidInputError(`Athena aggregate engine: queryTimeoutMs is ${this.queryTimeoutMs}: expected a positive number`);
    this.sleep = props.sleep ?? ((ms) => sleep(ms));
    this.concurrency = sessionConcurrency('Athena aggregate engine', props.concurrency, 8);
    this.now = props.now ?? (() => performance.now());
  }

  async open({ executionName }: AggregateRun): Promise<AggregateSession> {
    return {
      concurrency: this.concurrency,
      unload: (job) => this.unload(job, executionName),
      close: async () => {},
    };
  }

  private async unload(job: AggregateUnload, executionName: string): Promise<string[]> {
    const select = athenaQuerySql(job.query, job.parameters, this.props.database, job.reads);
    const written: string[] = [];
    for (const output of job.outputs) {
      const step: OutputStep = { executionName, job, output, label: `aggregate ${job.query} for ${job.period} (${output.format})` };
      if (output.format === 'csv') {
        const { id } = await this.execute(step, select, () => select);
        await this.props.store.put(output.key, await this.resultAsCsv(id, step.label));
        written.push(output.key);
      } else if (await this.unloadParquet(step, select)) {
        written.push(output.key);
      }
    }
    return written;
  }

  /**
   * UNLOADs the Parquet of `select` and moves its file to the output's key; returns false for an
   * empty result when UNLOAD wrote no file, after deleting what the key held.
   */
  private async unloadParquet(step: OutputStep, select: string): Promise<boolean> {
    const { store } = this.props;
    const staging = `${this.stagingPrefix}${step.executionName}/${step.job.query}/${step.job.period}/parquet/`;
    if (!store.locate(staging).startsWith('s3://')) {
      throw new InvalidInputError(`Athena ${step.label}: the store locates the staging prefix ${staging} at ${store.locate(staging)}: Parquet needs it in S3, where UNLOAD writes`);
    }
    const dataOf = (token: string) => `${staging}${token.slice(0, 16)}/data/`;
    const { id, token } = await this.execute(step, select, (token) => athenaUnloadStatement(select, store.locate(dataOf(token))));
    const marker = `${staging}${token.slice(0, 16)}/moved`;
    const staged = await this.keysUnder(dataOf(token));
    if (staged.length > 1) {
      throw new QueryError(`Athena ${step.label}: UNLOAD (query ${id}) wrote ${staged.length} files under ${dataOf(token)}: expected one, which a single key can hold`);
    }
    let written: boolean;
    if (staged.length === 1) {
      await store.put(step.output.key, await store.get(staged[0]!));
      await store.put(marker, step.output.key);
      written = true;
    } else {
      written = await store.exists(marker);
      if (!written) await store.delete(step.output.key);
    }
    // The moved file and whatever failed executions left; the markers stay for a retry of the step.
    for (const key of await this.keysUnder(staging)) if (!key.endsWith('/moved')) await store.delete(key);
    return written;
  }

  /**
   * Starts the query (`statement(token)`) and waits for it, waiting twice as long each time up to a
   * bound, until it succeeds; a failure Athena calls retryable starts the next execution. Stops the
   * current execution once the output has taken queryTimeoutMs. Rejects with a QueryError that names
   * the output and gives Athena's reason on one line.
   */
  private async execute(step: OutputStep, select: string, statement: (token: string) => string): Promise<{ id: string; token: string }> {
    const deadline = this.now() + this.queryTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      const token = athenaRequestToken({ executionName: step.executionName, query: step.job.query, period: step.job.period, format: step.output.format, attempt }, select);
      const id = await this.start(statement(token), token, step.label);
      const status = (await this.waitFor(id, deadline, step.label)).Status;
      if (status?.State === 'SUCCEEDED') return { id, token };
      if (status?.State === 'FAILED' && status.AthenaError?.Retryable === true && attempt < MAX_EXECUTIONS) continue;
      const reason = oneLine(status?.StateChangeReason ?? status?.AthenaError?.ErrorMessage ?? 'no reason given');
      const tries = attempt > 1 ? ` (execution ${attempt} of at most ${MAX_EXECUTIONS})` : '';
      throw new QueryError(`Athena ${step.label}: query ${id} ${status?.State}${tries}: ${reason}`);
    }
  }

  private async start(queryString: string, token: string, label: string): Promise<string> {
    const { client, workGroup, database } = this.props;
    const { QueryExecutionId: id } = await call('StartQueryExecution', label, () =>
      client.send(
        new StartQueryExecutionCommand({
          QueryString: queryString,
          ClientRequestToken: token,
          WorkGroup: workGroup,
          QueryExecutionContext: { Database: database, Catalog: this.catalog },
        }),
      ),
    );
    if (!id) throw new QueryError(`Athena ${label}: StartQueryExecution returned no query execution id`);
    return id;
  }

  /** Polls GetQueryExecution until `id` has finished, whichever way; stops it at `deadline`. */
  private async waitFor(id: string, deadline: number, label: string): Promise<QueryExecution> {
    const { client } = this.props;
    for (let delay = FIRST_POLL_DELAY_MS; ; delay = Math.min(2 * delay, MAX_POLL_DELAY_MS)) {
      await this.sleep(Math.max(0, Math.min(delay, deadline - this.now())));
      const { QueryExecution: execution } = await call('GetQueryExecution', label, () => client.send(new GetQueryExecutionCommand({ QueryExecutionId: id })));
      const state = execution?.Status?.State;
      if (state === 'SUCCEEDED' || state === 'FAILED' || state === 'CANCELLED') return execution!;
      if (this.now() >= deadline) {
        const limit = `query ${id} still ${state} after ${this.queryTimeoutMs / 1000} s`;
        await call(`StopQueryExecution (${limit})`, label, () => client.send(new StopQueryExecutionCommand({ QueryExecutionId: id })));
        throw new QueryError(`Athena ${label}: ${limit}: stopped`);
      }
    }
  }

  /**
   * The result of `id` as the local engine writes CSV (see csvField): `|`, a header, NULL (a datum
   * without a value) as an empty field, timestamps to the second. The first row of the first page
   * holds the column labels, as it does for every SELECT; it is skipped only when it equals them, as
   * PyAthena does (the first column of every aggregate is a timestamp, never equal to its name).
   */
  private async resultAsCsv(id: string, label: string): Promise<string> {
    const { client } = this.props;
    let columns: ColumnInfo[] | undefined;
    let text = '';
    let nextToken: string | undefined;
    do {
      const page = await call('GetQueryResults', label, () =>
        client.send(new GetQueryResultsCommand({ QueryExecutionId: id, MaxResults: RESULT_PAGE_SIZE, ...(nextToken === undefined ? {} : { NextToken: nextToken }) })),
      );
      let rows = page.ResultSet?.Rows ?? [];
      if (columns === undefined) {
        columns = page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? [];
        if (columns.length === 0) throw new QueryError(`Athena ${label}: GetQueryResults for query ${id} gave no columns`);
        const names = columns.map((column) => column.Name ?? '');
        text += csvLine(names);
        if (rows[0] && sameValues(rows[0].Data ?? [], names)) rows = rows.slice(1);
      }
      for (const row of rows) {
        const data = row.Data ?? [];
        if (data.length !== columns.length) throw new QueryError(`Athena ${label}: query ${id} gave a row of ${data.length} values for ${columns.length} columns`);
        text += csvLine(data.map(({ VarCharValue: value }, index) => textOf(value, columns![index]!, label)));
      }
      nextToken = page.NextToken;
    } while (nextToken);
    return text;
  }

  private async keysUnder(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const { key } of this.props.store.list(prefix)) keys.push(key);
    return keys;
  }
}

/**
 * The ClientRequestToken of the `attempt`-th query execution for one output of a workflow execution:
 * the same for a retry of the step, so that Athena returns the execution an earlier attempt started.
 * The query text is part of it, since Athena refuses a known token with another text. 64 hex digits
 * (Athena takes 32 to 128 characters).
 */
export function athenaRequestToken(
  output: { readonly executionName: string; readonly query: string; readonly period: string; readonly format: AggregateOutput['format']; readonly attempt: number },
  select: string,
): string {
  const { executionName, query, period, format, attempt } = output;
  return createHash('sha256').update(JSON.stringify(['aggregate', executionName, query, period, format, attempt, select])).digest('hex');
}

/**
 * A value as the local engine writes it. Athena gives a timestamp with its fraction of a second
 * (`2021-07-12 05:00:00.000` for timestamp(3)); DuckDB's `%Y-%m-%d %H:%M:%S` drops it. Decimals come
 * with their scale (`12.50`), integers and strings as they are.
 */
function textOf(value: string | undefined, column: ColumnInfo, label: string): string | null {
  if (value === undefined) return null;
  if (!/^timestamp(?:\(\d+\))?$/i.test(column.Type ?? '')) return value;
  const match = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.\d+)?$/.exec(value);
  if (!match) throw new QueryError(`Athena ${label}: column ${column.Name} holds "${value}": expected a timestamp YYYY-MM-DD HH:MM:SS[.fff]`);
  return match[1]!;
}

function sameValues(data: readonly { VarCharValue?: string | undefined }[], values: readonly string[]): boolean {
  return data.length === values.length && data.every((datum, index) => datum.VarCharValue === values[index]);
}

/** One Athena API call; the SDK's errors become QueryErrors naming the output, with the original as `cause`. */
async function call<T>(operation: string, label: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    throw new QueryError(`Athena ${label}: ${operation} failed: ${name}: ${oneLine(message)}`, { cause: error });
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
