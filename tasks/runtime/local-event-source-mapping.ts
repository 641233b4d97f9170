import { setTimeout as sleep } from 'node:timers/promises';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { sequenceOf, type StreamLog } from '../adapters/local/stream-log';
import type { DeadLetterQueue } from '../ports/dead-letter-queue';
import { InvalidInputError } from '../ports/errors';

export interface EventSourceMappingSettings {
  /** Records per invocation (BatchSize). @default 100 */
  readonly batchSize?: number;
  /** Retries of the failed part of a batch before it is split up (MaximumRetryAttempts). @default 3 */
  readonly maxRetries?: number;
  /** The wait before the first retry; each further one doubles. @default 200 */
  readonly retryDelayMs?: number;
  /** Called after each acknowledgement (tests watch delivery with it). @default none */
  readonly onAcknowledged?: (sequenceNumber: string) => void;
}

export interface DeliveryReport {
  /** Handler invocations, retries included. */
  readonly invocations: number;
  /** Records acknowledged after the handler succeeded on them. */
  readonly delivered: number;
  /** Records given up on and sent to the dead-letter queue. */
  readonly deadLettered: number;
}

type Handler = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | void>;

interface ErrorInfo {
  readonly name: string;
  readonly message: string;
}

/**
 * What a Lambda event source mapping does for a DynamoDB stream, for the embedded default's
 * StreamLog: delivers the records after the checkpoint to the handler in batches, in log order, and
 * acknowledges them (moves the durable checkpoint) only once the handler succeeded on them, so that
 * a crash redelivers but never loses, and a restart never redelivers what was acknowledged.
 *
 * A handler that throws fails its whole batch; one that returns `batchItemFailures`
 * (ReportBatchItemFailures) fails the batch from its lowest failed record on, and what precedes that
 * is acknowledged. The failed part is retried, with doubling waits, up to `maxRetries` times; then
 * it is bisected, each half getting one more try, down to single records, and a record that fails
 * alone goes to the dead-letter queue with its last error and is acknowledged, so the rest of the
 * stream moves on (the poison record no longer blocks its shard).
 */
export class LocalEventSourceMapping {
  private readonly batchSize: number;
  private readonly maxRetries: number;
  private readonly retryDelayMs: number;
  private readonly lastErrors = new Map<string, ErrorInfo>();
  private report = { invocations: 0, delivered: 0, deadLettered: 0 };

  constructor(
    private readonly log: StreamLog,
    private readonly deadLetters: DeadLetterQueue,
    private readonly settings: EventSourceMappingSettings = {},
  ) {
    this.batchSize = settings.batchSize ?? 100;
    this.maxRetries = settings.maxRetries ?? 3;
    this.retryDelayMs = settings.retryDelayMs ?? 200;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new InvalidInputError(`invalid batchSize ${this.batchSize}: expected a positive integer`);
    if (!Number.isInteger(this.maxRetries) || this.maxRetries < 0) throw new InvalidInputError(`invalid maxRetries ${this.maxRetries}: expected an integer >= 0`);
  }

  /** What a handler that reports partial failures knows and the response cannot say: why a record failed (for its dead letter). */
  readonly noteFailure = (record: DynamoDBRecord, error: Error): void => {
    this.lastErrors.set(sequenceOf(record), { name: error.name, message: error.message });
  };

  /** Delivers every record after the checkpoint, batch by batch, until none is left; then trims what the log no longer keeps. */
  async drain(handler: Handler): Promise<DeliveryReport> {
    this.report = { invocations: 0, delivered: 0, deadLettered: 0 };
    this.lastErrors.clear();
    for (;;) {
      const batch = await this.log.readAfter(await this.log.checkpoint(), this.batchSize);
      if (batch.length === 0) {
        await this.log.trimAcknowledged();
        return { ...this.report };
      }
      await this.deliver(batch, handler);
    }
  }

  private async deliver(records: readonly DynamoDBRecord[], handler: Handler): Promise<void> {
    let pending = records;
    for (let attempt = 1; ; attempt++) {
      pending = await this.invoke(pending, handler);
      if (pending.length === 0) return;
      if (attempt > this.maxRetries) return this.isolate(pending, handler, attempt);
      await sleep(this.retryDelayMs * 2 ** (attempt - 1));
    }
  }

  /** After the retries: one more try for each half, down to single records, which go to the dead letters. */
  private async isolate(records: readonly DynamoDBRecord[], handler: Handler, attempts: number): Promise<void> {
    if (records.length === 1) {
      const record = records[0]!;
      const sequence = sequenceOf(record);
      const error = this.lastErrors.get(sequence) ?? { name: 'BatchItemFailure', message: 'the handler reported the record failed' };
      await this.deadLetters.send({ record, error, attempts, failedAt: new Date().toISOString() });
      await this.acknowledge(sequence);
      this.report.deadLettered += 1;
      return;
    }
    const middle = Math.ceil(records.length / 2);
    for (const half of [records.slice(0, middle), records.slice(middle)]) {
      const failed = await this.invoke(half, handler);
      if (failed.length > 0) await this.isolate(failed, handler, attempts + 1);
    }
  }

  /** One invocation: acknowledges what succeeded before the first failure and returns the records from it on. */
  private async invoke(records: readonly DynamoDBRecord[], handler: Handler): Promise<readonly DynamoDBRecord[]> {
    this.report.invocations += 1;
    let failedFrom: number;
    try {
      const response = await handler({ Records: [...records] });
      failedFrom = firstFailure(records, response);
    } catch (error) {
      for (const record of records) this.noteFailure(record, error instanceof Error ? error : new Error(String(error)));
      failedFrom = 0;
    }
    if (failedFrom > 0) {
      await this.acknowledge(sequenceOf(records[failedFrom - 1]!));
      this.report.delivered += failedFrom;
    }
    return records.slice(failedFrom);
  }

  private async acknowledge(sequenceNumber: string): Promise<void> {
    await this.log.acknowledge(sequenceNumber);
    this.settings.onAcknowledged?.(sequenceNumber);
  }
}

/**
 * The index of the lowest failed record, or `records.length` when none failed. As on AWS, a failure
 * that names no record of the batch fails the whole batch.
 */
function firstFailure(records: readonly DynamoDBRecord[], response: DynamoDBBatchResponse | void): number {
  const failures = response?.batchItemFailures ?? [];
  if (failures.length === 0) return records.length;
  const indexes = failures.map(({ itemIdentifier }) => records.findIndex((record) => sequenceOf(record) === itemIdentifier));
  return indexes.includes(-1) ? 0 : Math.min(...indexes);
}
