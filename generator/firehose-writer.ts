import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { ObjectStore } from '../tasks/ports/object-store';
import { formatHour, rawPrefix } from '../tasks/shared/hours';
import type { Hour } from '../tasks/shared/hours';
import { Random } from './random';

const gzipAsync = promisify(gzip);
/** Level 3 compresses within a few percent of the default level 6 at twice its speed. */
const GZIP_LEVEL = 3;

const HOUR_US = 3_600_000_000;
/**
 * Objects compressed or being stored while generation goes on (gzip and file writes run on libuv's thread
 * pool): enough to hide the latency of durable writes, few enough to bound memory.
 */
const MAX_IN_FLIGHT_OBJECTS = 16;
const MAX_IN_FLIGHT_BYTES = 256 << 20;

export interface FirehoseWriterOptions {
  readonly store: ObjectStore;
  readonly streamName: string;
  readonly bufferSeconds: number;
  readonly seed: number;
  /** The arrival hours written, [fromUs, toUs), whole hours in epoch microseconds. */
  readonly fromUs: number;
  readonly toUs: number;
  readonly onHourWritten?: (hour: Hour) => void;
}

/**
 * Lines are copied into chunks that start small (a second of light traffic holds a few lines) and double up
 * to 64 KiB: a window holds no per-line strings for the collector to trace.
 */
const FIRST_CHUNK_BYTES = 1 << 10;
const MAX_CHUNK_BYTES = 64 << 10;

/** The bytes of lines in the order added, in chunks. */
class LineRun {
  readonly chunks: Buffer[] = [];
  private used = 0;

  add(line: string): void {
    // Three bytes per UTF-16 unit is the most UTF-8 can take (generated lines are ASCII, one byte each).
    const room = line.length * 3 + 1;
    let chunk = this.chunks[this.chunks.length - 1];
    if (!chunk || this.used + room > chunk.length) chunk = this.grow(room);
    this.used += chunk.write(line, this.used, 'utf8');
    chunk[this.used++] = 0x0a;
  }

  /** Trims the last chunk to the bytes it holds. */
  seal(): void {
    const last = this.chunks.length - 1;
    if (last >= 0) this.chunks[last] = (this.chunks[last] as Buffer).subarray(0, this.used);
  }

  private grow(room: number): Buffer {
    const previous = this.chunks[this.chunks.length - 1]?.length ?? FIRST_CHUNK_BYTES / 2;
    this.seal();
    const chunk = Buffer.allocUnsafe(Math.max(room, Math.min(previous * 2, MAX_CHUNK_BYTES)));
    this.chunks.push(chunk);
    this.used = 0;
    return chunk;
  }
}

/**
 * The records of one buffer window, kept per second of arrival. The object lists them in arrival order to
 * the second; within a second in the order generated, as records from several shards interleave.
 * Sorting by the microsecond would cost a sort and a copy per record for an order nobody can observe.
 */
class WindowBuffer {
  private readonly seconds = new Map<number, LineRun>();

  add(arrivalUs: number, line: string): void {
    const second = Math.floor(arrivalUs / 1_000_000);
    let run = this.seconds.get(second);
    if (!run) {
      run = new LineRun();
      this.seconds.set(second, run);
    }
    run.add(line);
  }

  /** The lines, each ended by a newline, in arrival order to the second. */
  toBody(): Buffer {
    const parts: Buffer[] = [];
    for (const second of [...this.seconds.keys()].sort((a, b) => a - b)) {
      const run = this.seconds.get(second) as LineRun;
      run.seal();
      parts.push(...run.chunks);
    }
    return Buffer.concat(parts);
  }
}

/**
 * Buffers records by arrival time and writes one gzip object per buffer window, as Kinesis Data Firehose
 * delivers to S3: `raw/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>.gz` under the arrival hour,
 * records in arrival order, one per line. Windows never straddle an hour, so each object sits in the
 * prefix of every record it holds.
 */
export class FirehoseWriter {
  private readonly windows = new Map<number, WindowBuffer>();
  private readonly inFlight: { readonly write: Promise<void>; readonly bytes: number }[] = [];
  private inFlightBytes = 0;
  /** Stores started per arrival hour (epoch microseconds), until the hour is reported. */
  private readonly hourWrites = new Map<number, Promise<void>[]>();
  /** Hours are reported in order, each once its objects are stored, without holding up generation. */
  private reported: Promise<void> = Promise.resolve();
  private nextHourUs: number;
  private objectCount = 0;

  constructor(private readonly options: FirehoseWriterOptions) {
    this.nextHourUs = options.fromUs;
  }

  get objects(): number {
    return this.objectCount;
  }

  /** Whether a record arriving at `arrivalUs` belongs to the written range. */
  accepts(arrivalUs: number): boolean {
    return arrivalUs >= this.options.fromUs && arrivalUs < this.options.toUs;
  }

  /** Buffers a record that `accepts` admitted. */
  add(arrivalUs: number, line: string): void {
    const start = this.windowStartUs(arrivalUs);
    let window = this.windows.get(start);
    if (!window) {
      window = new WindowBuffer();
      this.windows.set(start, window);
    }
    window.add(arrivalUs, line);
  }

  /** Writes every window that closed before `timeUs`: the caller promises no record will arrive before it. */
  async flushBefore(timeUs: number): Promise<void> {
    const closed = [...this.windows.keys()].filter((start) => this.windowEndUs(start) <= timeUs).sort((a, b) => a - b);
    for (const start of closed) {
      const window = this.windows.get(start) as WindowBuffer;
      this.windows.delete(start);
      const body = window.toBody();
      const write = this.writeObject(start, body);
      this.inFlight.push({ write, bytes: body.length });
      this.inFlightBytes += body.length;
      const hourUs = Math.floor(start / HOUR_US) * HOUR_US;
      this.hourWrites.set(hourUs, [...(this.hourWrites.get(hourUs) ?? []), write]);
      await this.settleExcess();
    }
    for (; this.nextHourUs + HOUR_US <= Math.min(timeUs, this.options.toUs); this.nextHourUs += HOUR_US) {
      const hour = formatHour(this.nextHourUs / 1000);
      const writes = this.hourWrites.get(this.nextHourUs) ?? [];
      this.hourWrites.delete(this.nextHourUs);
      this.reported = Promise.all([this.reported, ...writes]).then(() => this.options.onHourWritten?.(hour));
      this.reported.catch(() => undefined);
    }
  }

  /** Writes whatever is buffered; resolves when every object is stored and every hour reported. */
  async close(): Promise<void> {
    await this.flushBefore(this.options.toUs);
    await Promise.all(this.inFlight.splice(0).map((pending) => pending.write));
    await this.reported;
  }

  /** Waits for the oldest writes while more than one is in flight and too many, or too large, are. */
  private async settleExcess(): Promise<void> {
    while (this.inFlight.length > 1 && (this.inFlight.length > MAX_IN_FLIGHT_OBJECTS || this.inFlightBytes > MAX_IN_FLIGHT_BYTES)) {
      const oldest = this.inFlight.shift() as (typeof this.inFlight)[number];
      this.inFlightBytes -= oldest.bytes;
      await oldest.write;
    }
  }

  private writeObject(startUs: number, body: Buffer): Promise<void> {
    const key = this.keyOf(startUs);
    this.objectCount++;
    // Output chunks near a quarter of the body: few main-thread callbacks, no large buffer for a small object.
    const chunkSize = Math.min(Math.max(body.length >> 2, 16 << 10), 1 << 20);
    const write = gzipAsync(body, { level: GZIP_LEVEL, chunkSize }).then((compressed) => this.options.store.put(key, compressed));
    // Marked handled now: a failure surfaces where the promise is awaited, not as an unhandled rejection.
    write.catch(() => undefined);
    return write;
  }

  private keyOf(startUs: number): string {
    const startMs = startUs / 1000;
    const stamp = new Date(startMs).toISOString();
    const time = `${stamp.slice(0, 10)}-${stamp.slice(11, 13)}-${stamp.slice(14, 16)}-${stamp.slice(17, 19)}`;
    const uuid = Random.of(this.options.seed, 0xf12e, startMs / 1000).uuidV4();
    return `${rawPrefix(formatHour(startMs))}${this.options.streamName}-1-${time}-${uuid}.gz`;
  }

  private windowStartUs(arrivalUs: number): number {
    const hourUs = Math.floor(arrivalUs / HOUR_US) * HOUR_US;
    const windowUs = this.options.bufferSeconds * 1_000_000;
    return hourUs + Math.floor((arrivalUs - hourUs) / windowUs) * windowUs;
  }

  private windowEndUs(startUs: number): number {
    const hourEndUs = Math.floor(startUs / HOUR_US) * HOUR_US + HOUR_US;
    return Math.min(startUs + this.options.bufferSeconds * 1_000_000, hourEndUs);
  }
}
