import { setImmediate } from 'node:timers/promises';
import { InvalidInputError } from '../tasks/ports/errors';
import type { ObjectStore } from '../tasks/ports/object-store';
import type { OperationalTables } from '../tasks/ports/operational-tables';
import { hourStartMs, hoursBetween } from '../tasks/shared/hours';
import type { Hour } from '../tasks/shared/hours';
import { clickRecord, formatIsoMicros, serializeClick } from './click-record';
import type { ClickRecord } from './click-record';
import { writeOrders, writePopulation } from './dimensions';
import type { OrderRow } from './dimensions';
import {
  DEFAULT_FAULT_RATES,
  MALFORMATION_KINDS,
  MAX_LATENESS_US,
  extraFields,
  malformedLine,
  sampleClockSkewUs,
  sampleDuplicateDelayUs,
  sampleLatenessUs,
} from './faults';
import type { FaultRates, MalformationKind } from './faults';
import { FirehoseWriter } from './firehose-writer';
import { createPopulation } from './population';
import type { Population, Product, User } from './population';
import { DAY_US, PriceBook } from './prices';
import { Random } from './random';
import { seedOperationalTables } from './seed-tables';
import { MAX_SESSION_SPAN_US, simulateSession } from './sessions';
import type { SessionEvent } from './sessions';

export type { FaultRates, MalformationKind } from './faults';
export { DEFAULT_FAULT_RATES } from './faults';

export interface GenerateOptions {
  readonly store: ObjectStore;
  /** First arrival hour written. */
  readonly from: Hour;
  /** Arrival hour after the last one written (exclusive). */
  readonly to: Hour;
  /** On-time events per second, averaged over a day (traffic follows a daily curve). @default 5 */
  readonly rate?: number;
  /** @default 1 */
  readonly seed?: number;
  /** Fractions of records; each missing one takes its value from DEFAULT_FAULT_RATES. */
  readonly faults?: Partial<FaultRates>;
  /** The Firehose delivery stream name, the start of every raw object's name. @default 'clickstream' */
  readonly streamName?: string;
  /** Firehose buffer interval: one raw object per window of this many seconds that has records. @default 300 */
  readonly bufferSeconds?: number;
  /** The most a late session's events precede their sending, in hours. @default 72 */
  readonly maxLatenessHours?: number;
  /** Called once per arrival hour, in order, when all its objects are stored. */
  readonly onProgress?: (hour: Hour, done: number, total: number) => void;
  /** The operational tables to seed with the products and the orders written. @default none: only the dimension files */
  readonly tables?: OperationalTables;
}

export interface GenerationReport {
  hours: number;
  objects: number;
  /** Lines written, duplicates and malformed records included. */
  records: number;
  /** Distinct click events that a valid record carries. */
  events: number;
  /** Lines that carry each fault (a duplicate line counts for the faults it copies). */
  injected: {
    late: number;
    duplicates: number;
    malformed: Record<MalformationKind, number>;
    stringifiedAdditionalData: number;
    extraFields: number;
    clockAhead: number;
  };
  users: number;
  products: number;
  /** Orders of purchases made by records that arrived in the range. */
  orders: number;
  /** Whether the products and orders were also written to the operational tables. */
  tablesSeeded: boolean;
}

const SECOND_US = 1_000_000;
const HOUR_US = 3_600 * SECOND_US;
/**
 * Sessions start this long before the range so that its first minutes carry a full load of traffic. Shorter
 * than the longest session: the few sessions longer than this matter less than generating them all.
 */
const WARM_UP_US = 10 * 60 * SECOND_US;
/** How often (simulated time) closed buffer windows are written. */
const FLUSH_EVERY_US = 60 * SECOND_US;
const YIELD_EVERY_SESSIONS = 256;
const STREAM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

interface Settings {
  readonly store: ObjectStore;
  readonly hours: readonly Hour[];
  readonly fromUs: number;
  readonly toUs: number;
  readonly rate: number;
  readonly seed: number;
  readonly faults: FaultRates;
  readonly streamName: string;
  readonly bufferSeconds: number;
  readonly maxLatenessUs: number;
  readonly onProgress?: GenerateOptions['onProgress'];
}

/**
 * Writes synthetic shop traffic into `raw/` as Kinesis Data Firehose would deliver it, by arrival hour, with
 * the configured share of late, duplicate, malformed, drifting and clock-skewed records, plus the users,
 * products and orders dimensions. The same options give byte-identical objects under identical keys.
 * Throws InvalidInputError on bad options, before writing anything.
 */
export async function generateTraffic(options: GenerateOptions): Promise<GenerationReport> {
  const settings = resolveSettings(options);
  const population = createPopulation(settings.seed);
  await writePopulation(settings.store, population);
  const run = new TrafficRun(settings, population);
  await run.generate();
  await writeOrders(settings.store, run.orders);
  if (options.tables !== undefined) await seedOperationalTables(options.tables, population.products, run.orders);
  return { ...run.report(), tablesSeeded: options.tables !== undefined };
}

function resolveSettings(options: GenerateOptions): Settings {
  const hours = hoursBetween(options.from, options.to);
  const rate = options.rate ?? 5;
  if (!Number.isFinite(rate) || rate <= 0) throw new InvalidInputError(`invalid rate ${rate}: expected events per second, a number > 0`);
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new InvalidInputError(`invalid seed ${seed}: expected an integer`);
  const bufferSeconds = options.bufferSeconds ?? 300;
  if (!Number.isInteger(bufferSeconds) || bufferSeconds < 1 || bufferSeconds > 3_600) {
    throw new InvalidInputError(`invalid buffer interval ${bufferSeconds}: expected whole seconds from 1 to 3600`);
  }
  const maxLatenessHours = options.maxLatenessHours ?? MAX_LATENESS_US / HOUR_US;
  if (!(maxLatenessHours >= 2 && maxLatenessHours <= 24 * 30)) {
    throw new InvalidInputError(`invalid maximum lateness ${maxLatenessHours} hours: expected 2 to 720 (a late session must fit before it is sent)`);
  }
  const streamName = options.streamName ?? 'clickstream';
  if (!STREAM_NAME.test(streamName)) {
    throw new InvalidInputError(`invalid stream name "${streamName}": expected 1 to 64 letters, digits, '_', '.' or '-'`);
  }
  return {
    store: options.store,
    hours,
    fromUs: hourStartMs(options.from) * 1000,
    toUs: hourStartMs(options.to) * 1000,
    rate,
    seed,
    faults: resolveFaults(options.faults ?? {}),
    streamName,
    bufferSeconds,
    maxLatenessUs: maxLatenessHours * HOUR_US,
    onProgress: options.onProgress,
  };
}

function resolveFaults(faults: Partial<FaultRates>): FaultRates {
  const resolved = { ...DEFAULT_FAULT_RATES };
  for (const [name, value] of Object.entries(faults)) {
    if (!(name in DEFAULT_FAULT_RATES)) {
      throw new InvalidInputError(`unknown fault "${name}": expected one of ${Object.keys(DEFAULT_FAULT_RATES).join(', ')}`);
    }
    if (value === undefined) continue;
    if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
      throw new InvalidInputError(`invalid fraction for fault "${name}": got ${String(value)}, expected a number from 0 to 1`);
    }
    resolved[name as keyof FaultRates] = value;
  }
  if (resolved.late === 1) {
    throw new InvalidInputError('invalid fraction for fault "late": got 1, expected below 1 (the rate counts on-time events, so some must be on time)');
  }
  return resolved;
}

/** What sets a session's records apart, decided once per session: one device, one clock, one app version. */
interface SessionTraits {
  readonly user: User;
  readonly late: boolean;
  readonly clockSkewUs: number;
  readonly newClient: boolean;
}

class TrafficRun {
  readonly orders: OrderRow[] = [];
  private readonly prices: PriceBook;
  private readonly writer: FirehoseWriter;
  /** Arrivals from here on may carry fields of the new client version. */
  private readonly driftFromUs: number;
  private readonly counts = {
    records: 0,
    events: 0,
    late: 0,
    duplicates: 0,
    malformed: Object.fromEntries(MALFORMATION_KINDS.map((kind) => [kind, 0])) as Record<MalformationKind, number>,
    stringified: 0,
    extraFields: 0,
    clockAhead: 0,
  };

  constructor(
    private readonly settings: Settings,
    private readonly population: Population,
  ) {
    this.prices = new PriceBook(settings.seed, population.products);
    this.driftFromUs = settings.fromUs + Math.floor(settings.hours.length / 2) * HOUR_US;
    let done = 0;
    this.writer = new FirehoseWriter({
      store: settings.store,
      streamName: settings.streamName,
      bufferSeconds: settings.bufferSeconds,
      seed: settings.seed,
      fromUs: settings.fromUs,
      toUs: settings.toUs,
      onHourWritten: (hour) => settings.onProgress?.(hour, ++done, settings.hours.length),
    });
  }

  /**
   * Simulates sessions in start-time order. Each hour's sessions come from a stream seeded by (seed, hour),
   * so that runs over different ranges never repeat click ids. Every record of a later session arrives
   * after the current session's start, so the windows that closed before it can be written.
   */
  async generate(): Promise<void> {
    const { fromUs, toUs } = this.settings;
    if (fromUs === toUs) return;
    const firstUs = fromUs - WARM_UP_US;
    let nextFlushUs = firstUs + FLUSH_EVERY_US;
    let sessions = 0;
    for (let hourUs = Math.floor(firstUs / HOUR_US) * HOUR_US; hourUs < toUs; hourUs += HOUR_US) {
      const random = Random.of(this.settings.seed, 0x5e55, hourUs / HOUR_US);
      let timeUs = Math.max(hourUs, firstUs) + random.exponential(1 / this.eventsPerUs(hourUs));
      while (timeUs < hourUs + HOUR_US) {
        const onTimeEvents = this.emitSession(random, Math.floor(timeUs));
        timeUs += random.exponential(onTimeEvents / this.eventsPerUs(timeUs));
        if (timeUs >= nextFlushUs) {
          await this.writer.flushBefore(timeUs);
          nextFlushUs = timeUs + FLUSH_EVERY_US;
        }
        // Gives the event loop a turn, so that the stores of closed windows progress while generation goes on.
        if (++sessions % YIELD_EVERY_SESSIONS === 0) await setImmediate();
      }
    }
    await this.writer.close();
  }

  report(): Omit<GenerationReport, 'tablesSeeded'> {
    const { counts } = this;
    return {
      hours: this.settings.hours.length,
      objects: this.writer.objects,
      records: counts.records,
      events: counts.events,
      injected: {
        late: counts.late,
        duplicates: counts.duplicates,
        malformed: { ...counts.malformed },
        stringifiedAdditionalData: counts.stringified,
        extraFields: counts.extraFields,
        clockAhead: counts.clockAhead,
      },
      users: this.population.users.length,
      products: this.population.products.length,
      orders: this.orders.length,
    };
  }

  /** On-time traffic follows a daily curve: half the average at 03:00 UTC, one and a half at 15:00. */
  private eventsPerUs(timeUs: number): number {
    const hourOfDay = (timeUs % DAY_US) / HOUR_US;
    return (this.settings.rate * (1 + 0.5 * Math.sin((2 * Math.PI * (hourOfDay - 9)) / 24))) / SECOND_US;
  }

  /**
   * Emits the session that starts at `atUs`, or, for a late one, that the client sends at `atUs` in one burst
   * after recording it offline; returns how many on-time events it had (late ones come on top of the rate).
   */
  private emitSession(random: Random, atUs: number): number {
    const { faults } = this.settings;
    const traits: SessionTraits = {
      user: this.population.pickUser(random),
      late: random.chance(faults.late),
      clockSkewUs: random.chance(faults.clockAhead) ? Math.floor(sampleClockSkewUs(random)) : 0,
      newClient: random.chance(faults.extraFields),
    };
    if (traits.late) {
      const latenessUs = sampleLatenessUs(random, this.settings.maxLatenessUs - MAX_SESSION_SPAN_US - 60 * SECOND_US);
      // Started early enough for the whole session to end `latenessUs` or more before it is sent.
      const startUs = Math.floor(atUs - latenessUs - MAX_SESSION_SPAN_US);
      let burstUs = atUs;
      for (const event of simulateSession(random, this.population, this.prices, traits.user, startUs)) {
        burstUs += Math.floor(random.logUniform(1_000, 20_000));
        this.emitEvent(random, traits, event, burstUs);
      }
      return 0;
    }
    const events = simulateSession(random, this.population, this.prices, traits.user, atUs);
    for (const event of events) this.emitEvent(random, traits, event, event.timeUs + Math.floor(random.logUniform(1_000, 3_000_000)));
    return events.length;
  }

  private emitEvent(random: Random, traits: SessionTraits, event: SessionEvent, sentUs: number): void {
    const { faults } = this.settings;
    const arrivalUs = sentUs + Math.floor(random.logUniform(20_000, 5_000_000));
    const clickId = random.hex(4);
    if (!this.writer.accepts(arrivalUs)) return;
    const product = this.population.products[event.productIndex] as Product;
    if (event.name === 'Purchase') {
      this.orders.push({
        order_id: random.hex(2),
        user_id: traits.user.userId,
        product_id: product.productId,
        quantity: event.quantity,
        unit_price: event.price,
        ordered_at: formatIsoMicros(event.timeUs),
        click_id: clickId,
      });
    }
    const record = clickRecord(event, {
      userId: traits.user.userId,
      pixelId: traits.user.pixelId,
      userIp: traits.user.ip,
      productId: product.productId,
      clickId,
      clientTimeUs: event.timeUs + traits.clockSkewUs,
      clientSendTimeUs: sentUs + traits.clockSkewUs,
    });

    if (random.chance(faults.malformed)) {
      const kind = random.pick(MALFORMATION_KINDS);
      this.counts.malformed[kind]++;
      this.writeLine(arrivalUs, malformedLine(random, record, kind), traits, false, false);
      return;
    }
    const stringified = random.chance(faults.stringifiedAdditionalData);
    const drifted = traits.newClient && arrivalUs >= this.driftFromUs;
    const text = stringified || drifted ? JSON.stringify(withFaults(random, record, stringified, drifted)) : serializeClick(record);
    this.counts.events++;
    this.writeLine(arrivalUs, text, traits, stringified, drifted);
    if (random.chance(faults.duplicate)) {
      const retryUs = arrivalUs + Math.floor(sampleDuplicateDelayUs(random));
      if (this.writer.accepts(retryUs)) {
        this.counts.duplicates++;
        this.writeLine(retryUs, text, traits, stringified, drifted);
      }
    }
  }

  private writeLine(arrivalUs: number, text: string, traits: SessionTraits, stringified: boolean, drifted: boolean): void {
    const { counts } = this;
    counts.records++;
    if (traits.late) counts.late++;
    if (traits.clockSkewUs > 0) counts.clockAhead++;
    if (stringified) counts.stringified++;
    if (drifted) counts.extraFields++;
    this.writer.add(arrivalUs, text);
  }
}

function withFaults(random: Random, record: ClickRecord, stringified: boolean, drifted: boolean): Record<string, unknown> {
  const faulty: Record<string, unknown> = { ...record };
  if (stringified) faulty.additional_data = JSON.stringify(record.additional_data);
  return drifted ? { ...faulty, ...extraFields(random) } : faulty;
}
