import { marshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue, DynamoDBRecord } from 'aws-lambda';
import type { ChangeCapture, ItemChange } from '../../ports/change-capture';
import { InvalidInputError, NotFoundError } from '../../ports/errors';
import type { ObjectStore } from '../../ports/object-store';

export interface StreamLogOptions {
  /** The table whose changes the log holds; it names the records' eventSourceARN. */
  readonly tableName: string;
  /** Where the log lives in the store, ending in `/`. */
  readonly prefix: string;
  /** How long acknowledged records are kept, as DynamoDB Streams keeps records 24 hours. @default 24 */
  readonly retentionHours?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** SequenceNumber = segment (20 digits) then the record's index in it (6 digits): numeric order is log order. */
const SEGMENT_DIGITS = 20;
const INDEX_DIGITS = 6;
const MAX_SEGMENT_RECORDS = 10 ** INDEX_DIGITS;

/**
 * The last writer in line on each log, by location, shared by every StreamLog of that log in this
 * process. A promise chain rather than a lock library: turns are only taken within one process, since
 * the writers write the tables too, which one process at a time holds (see LocalDynamoDb).
 */
const lastWriters = new Map<string, Promise<unknown>>();

/**
 * The embedded default's DynamoDB stream of one table: a durable, append-only log of stream records
 * shaped as DynamoDB Streams delivers them (NEW_AND_OLD_IMAGES, images marshalled), and the
 * checkpoint of its one consumer.
 *
 * Layout under `prefix`: `records/<segment>.jsonl`, one segment per `record` call, created
 * exclusively and fsynced (putIfAbsent: a crash leaves the whole segment or none, and of two
 * writers claiming the same number one wins and the other takes the next); `checkpoint.json`, the
 * SequenceNumber of the last acknowledged record, replaced atomically. One log is one shard, so
 * records of a key come in the order they were recorded.
 *
 * Unlike DynamoDB Streams, records past the retention are removed only once acknowledged
 * (`trimAcknowledged`): a consumer stopped for days here must not lose signals.
 */
export class StreamLog implements ChangeCapture {
  private readonly now: () => Date;
  private nextSegment: number | undefined;
  private readonly segments = new Map<number, Promise<DynamoDBRecord[]>>();

  constructor(
    private readonly store: ObjectStore,
    private readonly options: StreamLogOptions,
  ) {
    this.now = options.now ?? (() => new Date());
  }

  async exclusively<T>(write: () => Promise<T>): Promise<T> {
    const location = this.store.locate(this.options.prefix);
    const turn = (lastWriters.get(location) ?? Promise.resolve()).then(write);
    // The next writer waits for this one to end, not to succeed.
    const ended = turn.catch(() => undefined);
    lastWriters.set(location, ended);
    try {
      return await turn;
    } finally {
      if (lastWriters.get(location) === ended) lastWriters.delete(location);
    }
  }

  async record(changes: readonly ItemChange<object>[]): Promise<void> {
    for (let start = 0; start < changes.length; start += MAX_SEGMENT_RECORDS) {
      await this.appendSegment(changes.slice(start, start + MAX_SEGMENT_RECORDS));
    }
  }

  /** Up to `limit` records after `sequenceNumber` (from the start without one), in log order. */
  async readAfter(sequenceNumber: string | undefined, limit: number): Promise<DynamoDBRecord[]> {
    const from = sequenceNumber === undefined ? 0 : segmentOf(sequenceNumber);
    const records: DynamoDBRecord[] = [];
    for (const segment of await this.listSegments()) {
      if (segment < from) {
        // Acknowledged: never read again.
        this.segments.delete(segment);
        continue;
      }
      for (const record of await this.readSegment(segment)) {
        if (sequenceNumber !== undefined && sequenceOf(record) <= sequenceNumber) continue;
        records.push(record);
        if (records.length === limit) return records;
      }
    }
    return records;
  }

  /** The SequenceNumber of the last acknowledged record; undefined before the first. */
  async checkpoint(): Promise<string | undefined> {
    try {
      const { sequenceNumber } = JSON.parse((await this.store.get(this.checkpointKey)).toString('utf8')) as { sequenceNumber: string };
      return sequenceNumber;
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  /** Moves the checkpoint to `sequenceNumber`: that record and every one before it are done. */
  async acknowledge(sequenceNumber: string): Promise<void> {
    await this.store.put(this.checkpointKey, `${JSON.stringify({ sequenceNumber, acknowledgedAt: this.now().toISOString() })}\n`);
  }

  /**
   * Removes the segments wholly before the checkpoint's segment written more than the retention ago;
   * returns how many. The checkpoint's segment stays, so numbering goes on after it.
   */
  async trimAcknowledged(): Promise<number> {
    const checkpoint = await this.checkpoint();
    if (checkpoint === undefined) return 0;
    const before = segmentOf(checkpoint);
    const cutoff = this.now().getTime() - (this.options.retentionHours ?? 24) * 3_600_000;
    let trimmed = 0;
    for await (const object of this.store.list(this.recordsPrefix)) {
      const segment = segmentOfKey(object.key);
      if (segment === undefined || segment >= before || object.lastModified.getTime() > cutoff) continue;
      await this.store.delete(object.key);
      this.segments.delete(segment);
      trimmed += 1;
    }
    return trimmed;
  }

  /** How many records wait after the checkpoint. */
  async pendingCount(): Promise<number> {
    return (await this.readAfter(await this.checkpoint(), Number.POSITIVE_INFINITY)).length;
  }

  private get checkpointKey(): string {
    return `${this.options.prefix}checkpoint.json`;
  }

  private get recordsPrefix(): string {
    return `${this.options.prefix}records/`;
  }

  private async appendSegment(changes: readonly ItemChange<object>[]): Promise<void> {
    let segment = this.nextSegment ?? ((await this.listSegments()).at(-1) ?? 0) + 1;
    const createdAt = Math.floor(this.now().getTime() / 1000);
    for (;;) {
      const lines = changes.map((change, index) => `${JSON.stringify(this.streamRecord(change, sequenceNumberOf(segment, index), createdAt))}\n`);
      if (await this.store.putIfAbsent(this.segmentKey(segment), lines.join(''))) break;
      segment += 1;
    }
    this.nextSegment = segment + 1;
  }

  private streamRecord(change: ItemChange<object>, sequenceNumber: string, createdAt: number): DynamoDBRecord {
    const image = (item: object) => marshall(item, { removeUndefinedValues: true }) as Record<string, AttributeValue>;
    const keys = image(change.keys);
    const newImage = image(change.newImage);
    const oldImage = change.oldImage === undefined ? undefined : image(change.oldImage);
    return {
      eventID: sequenceNumber,
      eventName: change.eventName,
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: 'us-east-1',
      dynamodb: {
        ApproximateCreationDateTime: createdAt,
        Keys: keys,
        NewImage: newImage,
        ...(oldImage === undefined ? {} : { OldImage: oldImage }),
        SequenceNumber: sequenceNumber,
        SizeBytes: Buffer.byteLength(JSON.stringify([keys, newImage, oldImage ?? null])),
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      },
      eventSourceARN: `arn:aws:dynamodb:us-east-1:000000000000:table/${this.options.tableName}/stream/local`,
    };
  }

  private async listSegments(): Promise<number[]> {
    const segments: number[] = [];
    for await (const object of this.store.list(this.recordsPrefix)) {
      const segment = segmentOfKey(object.key);
      if (segment !== undefined) segments.push(segment);
    }
    return segments.sort((a, b) => a - b);
  }

  /** A segment's records; segments never change once created, so each is read once. */
  private readSegment(segment: number): Promise<DynamoDBRecord[]> {
    let records = this.segments.get(segment);
    if (records === undefined) {
      const key = this.segmentKey(segment);
      records = this.store.get(key).then((body) => parseSegment(body.toString('utf8'), key));
      this.segments.set(segment, records);
      records.catch(() => this.segments.delete(segment));
    }
    return records;
  }

  private segmentKey(segment: number): string {
    return `${this.recordsPrefix}${String(segment).padStart(SEGMENT_DIGITS, '0')}.jsonl`;
  }
}

function sequenceNumberOf(segment: number, index: number): string {
  return `${String(segment).padStart(SEGMENT_DIGITS, '0')}${String(index).padStart(INDEX_DIGITS, '0')}`;
}

function segmentOf(sequenceNumber: string): number {
  if (!/^\d+$/.test(sequenceNumber) || sequenceNumber.length !== SEGMENT_DIGITS + INDEX_DIGITS) {
    throw new InvalidInputError(`invalid stream sequence number "${sequenceNumber}": expected ${SEGMENT_DIGITS + INDEX_DIGITS} digits`);
  }
  return Number(sequenceNumber.slice(0, SEGMENT_DIGITS));
}

function segmentOfKey(key: string): number | undefined {
  const match = /\/(\d+)\.jsonl$/.exec(key);
  return match ? Number(match[1]) : undefined;
}

export function sequenceOf(record: DynamoDBRecord): string {
  return record.dynamodb?.SequenceNumber ?? '';
}

function parseSegment(text: string, key: string): DynamoDBRecord[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line, index) => {
      try {
        return JSON.parse(line) as DynamoDBRecord;
      } catch (error) {
        throw new InvalidInputError(`stream segment ${key} line ${index + 1} is not JSON: ${(error as Error).message}`, { cause: error });
      }
    });
}
