import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CancelStatementCommand,
  DescribeStatementCommand,
  ExecuteStatementCommand,
  type DescribeStatementResponse,
  type ExecuteStatementInput,
  type RedshiftDataClient,
} from '@aws-sdk/client-redshift-data';
import { sessionConcurrency, type AggregateEngine, type AggregateOutput, type AggregateRun, type AggregateSession, type AggregateUnload } from '../../ports/aggregate-engine';
import { InvalidInputError } from '../../ports/errors';
import type { ObjectStore } from '../../ports/object-store';
import { QueryError } from '../../ports/query-engine';
import { checkExternalSchema, redshiftQuerySql, unloadStatement } from './redshift-unload-sql';
import { AGGREGATES_STAGING_PREFIX } from '../../aggregate/queries';

/** The first wait before DescribeStatement; each later one doubles, up to MAX_POLL_DELAY_MS. */
const FIRST_POLL_DELAY_MS = 200;
const MAX_POLL_DELAY_MS = 5_000;

export interface RedshiftAggregateEngineProps {
  /** The Data API client, built by the caller (region, credentials, retries). */
  readonly client: RedshiftDataClient;
  /** The lake: UNLOAD stages files in it and results move to their keys in it; `locate` must give `s3://` URLs. */
  readonly store: ObjectStore;
  /** Redshift Serverless: the workgroup. Exactly one of workgroupName and clusterIdentifier. @default none */
  readonly workgroupName?: string;
  /** A provisioned cluster, with dbUser or secretArn. @default none */
  readonly clusterIdentifier?: string;
  /** A provisioned cluster's database user, for temporary credentials. @default none */
  readonly dbUser?: string;
  /** The Secrets Manager secret holding the database credentials. @default none (IAM credentials) */
  readonly secretArn?: string;
  readonly database: string;
  /** The external schema over the Glue database, holding the tables `events` and `users`. */
  readonly externalSchema: string;
  /** The role UNLOAD writes to S3 with, `arn:aws:iam::<account>:role/<name>`. */
  readonly iamRole: string;
  /** Where UNLOAD writes before each result moves to its key; outside every prefix a reader lists. @default '_staging/aggregates/' */
  readonly stagingPrefix?: string;
  /** How long one statement may run before it is cancelled. @default 300000 (5 minutes, of the step's 15) */
  readonly statementTimeoutMs?: number;
  /**
   * Jobs in progress at once. Data API statements are independent, and a run with late events has hundreds
   * of jobs of a few seconds each: one at a time would outlast the step's 15 minutes. @default 8
   */
  readonly concurrency?: number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Milliseconds of a monotonic clock. @default performance.now */
  readonly now?: () => number;
}

/**
 * The aggregate engine on AWS: each job's query, in its Redshift form, runs on Redshift Spectrum over
 * the external schema (the Glue tables, not the snapshot's files), wrapped in UNLOAD and sent through
 * the Redshift Data API. UNLOAD cannot name its file (PARALLEL OFF appends `000` to the prefix it is
 * given), so it writes to a staging prefix of the execution and the file then moves to its key
 * through the object store: get and put, since a put replaces an S3 object atomically and S3 has no
 * rename. The staging prefix is emptied before each UNLOAD and after each move, so a retry of the
 * step converges whatever an earlier attempt left.
 */
export class RedshiftAggregateEngine implements AggregateEngine {
  private readonly target: Pick<ExecuteStatementInput, 'WorkgroupName' | 'ClusterIdentifier' | 'DbUser' | 'SecretArn' | 'Database'>;
  private readonly stagingPrefix: string;
  private readonly statementTimeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly concurrency: number;
  private readonly now: () => number;

  constructor(private readonly props: RedshiftAggregateEngineProps) {
    const { workgroupName, clusterIdentifier, dbUser, secretArn, database } = props;
    if ((workgroupName === undefined) === (clusterIdentifier === undefined)) {
      throw new InvalidInputError('Redshift aggregate engine: expected exactly one of workgroupName (Serverless) and clusterIdentifier (provisioned)');
    }
    if (clusterIdentifier !== undefined && (dbUser === undefined) === (secretArn === undefined)) {
      throw new InvalidInputError(`Redshift aggregate engine: cluster ${clusterIdentifier} needs exactly one of dbUser and secretArn`);
    }
    if (workgroupName !== undefined && dbUser !== undefined) {
      throw new InvalidInputError(`Redshift aggregate engine: workgroup ${workgroupName} takes secretArn or IAM credentials, not dbUser`);
    }
    checkExternalSchema(props.externalSchema);
    if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/\S+$/.test(props.iamRole)) {
      throw new InvalidInputError(`Redshift aggregate engine: invalid iamRole "${props.iamRole}": expected arn:aws:iam::<account>:role/<name>`);
    }
    this.stagingPrefix = props.stagingPrefix ?? AGGREGATES_STAGING_PREFIX;
    if (!this.stagingPrefix.endsWith('/') || !props.store.locate(this.stagingPrefix).startsWith('s3://')) {
      throw new InvalidInputError(`Redshift aggregate engine: staging prefix "${this.stagingPrefix}" must end with / and the store must locate it in S3, where UNLOAD writes`);
    }
    this.statementTimeoutMs = props.statementTimeoutMs ?? 300_000;
    if (!(this.statementTimeoutMs > 0)) throw new InvalidInputError(`Redshift aggregate engine: statementTimeoutMs is ${this.statementTimeoutMs}: expected a positive number`);
    this.sleep = props.sleep ?? ((ms) => sleep(ms));
    this.concurrency = sessionConcurrency('Redshift aggregate engine', props.concurrency, 8);
    this.now = props.now ?? (() => performance.now());
    this.target = {
      Database: database,
      ...(workgroupName === undefined ? { ClusterIdentifier: clusterIdentifier } : { WorkgroupName: workgroupName }),
      ...(dbUser === undefined ? {} : { DbUser: dbUser }),
      ...(secretArn === undefined ? {} : { SecretArn: secretArn }),
    };
  }

  async open({ executionName }: AggregateRun): Promise<AggregateSession> {
    return {
      concurrency: this.concurrency,
      unload: (job) => this.unload(job, executionName),
      close: async () => {},
    };
  }

  private async unload(job: AggregateUnload, executionName: string): Promise<string[]> {
    const select = redshiftQuerySql(job.query, job.parameters, this.props.externalSchema, job.reads);
    const written: string[] = [];
    for (const output of job.outputs) {
      const staging = `${this.stagingPrefix}${executionName}/${job.query}/${job.period}/${output.format}/`;
      const statement = unloadStatement(select, this.props.store.locate(staging), this.props.iamRole, output.format);
      await this.deleteAll(staging);
      const finished = await this.runStatement(statement, `${executionName}/aggregate/${job.query}/${job.period}/${output.format}`, `aggregate ${job.query} for ${job.period} (${output.format})`);
      if (await this.moveStaged(staging, output, finished)) written.push(output.key);
    }
    return written;
  }

  /**
   * Moves the one file UNLOAD staged to `output.key`, leaving the staging prefix empty; returns false for an empty result, which UNLOAD
   * writes no file for, after deleting what `output.key` held, so no stale result survives.
   */
  private async moveStaged(staging: string, output: AggregateOutput, finished: DescribeStatementResponse): Promise<boolean> {
    const staged: string[] = [];
    for await (const { key } of this.props.store.list(staging)) staged.push(key);
    if (staged.length === 0 && (finished.ResultRows ?? 0) <= 0) {
      await this.props.store.delete(output.key);
      return false;
    }
    if (staged.length !== 1) {
      throw new QueryError(`UNLOAD for ${output.key} left ${staged.length} files under ${staging} (${finished.ResultRows} rows): expected exactly one`);
    }
    await this.props.store.put(output.key, await this.props.store.get(staged[0]!));
    await this.props.store.delete(staged[0]!);
    return true;
  }

  private async deleteAll(prefix: string): Promise<void> {
    for await (const { key } of this.props.store.list(prefix)) await this.props.store.delete(key);
  }

  /**
   * Sends `sql` and polls DescribeStatement, waiting twice as long each time up to a bound, until the
   * statement finishes; cancels it once it has run for statementTimeoutMs. Rejects with a QueryError
   * that names `job` and gives Redshift's error on one line.
   */
  private async runStatement(sql: string, statementName: string, job: string): Promise<DescribeStatementResponse> {
    const { client } = this.props;
    const started = this.now();
    // A client token makes the SDK's own retries of a request that timed out submit the statement once.
    const { Id: id } = await call('ExecuteStatement', job, () =>
      client.send(new ExecuteStatementCommand({ ...this.target, Sql: sql, StatementName: statementName, ClientToken: randomUUID() })),
    );
    if (!id) throw new QueryError(`Redshift ${job}: ExecuteStatement returned no statement id`);
    for (let delay = FIRST_POLL_DELAY_MS; ; delay = Math.min(2 * delay, MAX_POLL_DELAY_MS)) {
      await this.sleep(Math.max(0, Math.min(delay, started + this.statementTimeoutMs - this.now())));
      const described = await call('DescribeStatement', job, () => client.send(new DescribeStatementCommand({ Id: id })));
      if (described.Status === 'FINISHED') return described;
      if (described.Status === 'FAILED' || described.Status === 'ABORTED') {
        throw new QueryError(`Redshift ${job}: statement ${id} ${described.Status}: ${oneLine(described.Error ?? 'no error given')}`);
      }
      if (this.now() - started >= this.statementTimeoutMs) {
        const limit = `statement ${id} still ${described.Status} after ${this.statementTimeoutMs / 1000} s`;
        await call(`CancelStatement (${limit})`, job, () => client.send(new CancelStatementCommand({ Id: id })));
        throw new QueryError(`Redshift ${job}: ${limit}: cancelled`);
      }
    }
  }
}

/** One Data API call; the SDK's errors become QueryErrors naming the job, with the original as `cause`. */
async function call<T>(operation: string, job: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    throw new QueryError(`Redshift ${job}: ${operation} failed: ${name}: ${oneLine(message)}`, { cause: error });
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
