import { paginateScan } from '@aws-sdk/lib-dynamodb';
import { FsDeadLetterQueue } from '../adapters/local/fs-dead-letter-queue';
import type { StreamLog } from '../adapters/local/stream-log';
import type { ObjectStore } from '../ports/object-store';
import type { OperationalTables, TableSession } from '../ports/operational-tables';
import { createPriceSignalsHandler } from '../pricing/handler';
import type { PricingSettings } from '../pricing/run';
import type { PriceHistoryItem, ProductItem } from '../tables/items';
import { tableCall } from '../tables/table-errors';
import { LocalEventSourceMapping, type DeliveryReport, type EventSourceMappingSettings } from './local-event-source-mapping';
import type { StartModelEndpoint } from './local-model-endpoint';
import { PRICE_SIGNALS_STREAM_PREFIX } from './local-ports';

/** Records the consumer or the stream gave up on, one file each. */
export const DEAD_LETTERS_PREFIX = `${PRICE_SIGNALS_STREAM_PREFIX}dead-letters/`;

export interface LocalPricingOptions {
  readonly store: ObjectStore;
  readonly tables: OperationalTables;
  readonly stream: StreamLog;
  /** Starts the price model's endpoint; undefined when there is no model. */
  readonly startModelEndpoint: StartModelEndpoint;
  /** @default the event source mapping's defaults */
  readonly delivery?: EventSourceMappingSettings;
  /** @default the consumer's defaults */
  readonly pricing?: PricingSettings;
}

export type PricingDelivery = DeliveryReport & {
  /** `no-model`: records wait, undelivered, until a model is trained; `idle`: nothing was waiting. */
  readonly status: 'delivered' | 'idle' | 'no-model';
  /** Records still waiting after this delivery. */
  readonly pending: number;
  /** The consumer's decisions in this delivery: prices changed, and signals that held the price. */
  readonly changed: number;
  readonly held: number;
};

const NO_DELIVERY = { invocations: 0, delivered: 0, deadLettered: 0, changed: 0, held: 0 };

/**
 * The pricing branch of the embedded default: the price_signals stream (written ahead by the
 * signals step through `stream`) delivered to the same consumer handler that runs on AWS, with the
 * model served on loopback. Delivery happens when a command asks for it (after its workflows), one
 * process at a time: it holds the lake's tables while it drains.
 */
export class LocalPricing {
  readonly stream: StreamLog;
  readonly deadLetters: FsDeadLetterQueue;

  constructor(private readonly options: LocalPricingOptions) {
    this.stream = options.stream;
    this.deadLetters = new FsDeadLetterQueue(options.store, DEAD_LETTERS_PREFIX);
  }

  /**
   * Delivers every waiting record to the consumer. Without a model to serve, nothing is delivered
   * and the records wait (they are not failures): the next delivery after a model is trained takes them.
   */
  async deliver(): Promise<PricingDelivery> {
    const waiting = await this.stream.pendingCount();
    if (waiting === 0) return { ...NO_DELIVERY, status: 'idle', pending: 0 };
    const endpoint = await this.options.startModelEndpoint();
    if (endpoint === undefined) return { ...NO_DELIVERY, status: 'no-model', pending: waiting };
    const decisions = { changed: 0, held: 0 };
    const onDecision = ({ decision }: PriceHistoryItem) => (decisions[decision] += 1);
    try {
      const report = await this.options.tables.use(async (tables) => {
        const mapping = new LocalEventSourceMapping(this.stream, this.deadLetters, this.options.delivery);
        const handler = createPriceSignalsHandler({ tables, model: endpoint, deadLetters: this.deadLetters, onRecordFailed: mapping.noteFailure, onDecision }, this.options.pricing);
        return mapping.drain(handler);
      });
      return { ...NO_DELIVERY, ...report, ...decisions, status: 'delivered', pending: await this.stream.pendingCount() };
    } finally {
      await endpoint.close();
    }
  }

  /** The catalog and the audit as they stand; undefined for a lake without tables. */
  async readPrices(): Promise<{ readonly products: ProductItem[]; readonly history: PriceHistoryItem[] } | undefined> {
    return this.options.tables.use(async (tables) => ({
      products: await scanAll<ProductItem>(tables, tables.names.products),
      history: await scanAll<PriceHistoryItem>(tables, tables.names.priceHistory),
    }));
  }
}

async function scanAll<T>(tables: TableSession, table: string): Promise<T[]> {
  return tableCall(`reading ${table}`, async () => {
    const items: T[] = [];
    for await (const page of paginateScan({ client: tables.doc }, { TableName: table, ConsistentRead: true })) items.push(...((page.Items ?? []) as T[]));
    return items;
  });
}
