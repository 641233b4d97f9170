import { performance } from 'node:perf_hooks';
import type { PriceInstance } from '../models/contract';
import { InsufficientDataError } from '../models/demand/train';
import { trainAndPublish } from '../models/demand/train-from-lake';
import type { CatalogProduct } from '../models/demand/training-data';
import { runAggregate } from '../tasks/aggregate/run';
import { predictPrices } from '../tasks/pricing/price-model';
import { startTrainedModelEndpoint } from '../tasks/runtime/local-model-endpoint';
import { createLocalPorts } from '../tasks/runtime/local-ports';
import { openLocalRuntime } from '../tasks/runtime/local-runtime';
import { runBaseline } from './baseline';
import { RawJsonAggregateEngine } from './raw-json-aggregate-engine';

/**
 * The jobs the benchmark measures, each run alone in a child process (`bench/child.ts`) so that its peak
 * memory is its own. A job takes JSON arguments and returns JSON: `recordsIn` and `rowsOut` when it knows
 * them, and anything else worth printing under `details`.
 *
 * To measure another step, add a job here and a line to the plan in `run.ts`. A step of the hourly workflow
 * needs no job of its own: the hourly job reports every state's duration (the aggregate step's among them).
 */
export interface JobOutcome {
  readonly ok: boolean;
  /** Why the job did not succeed. */
  readonly error?: string;
  readonly recordsIn?: number;
  readonly rowsOut?: number;
  readonly details?: Record<string, unknown>;
}

export type Job = (args: Record<string, unknown>) => Promise<JobOutcome>;

/** Per-state time of a workflow execution, in the order the states ran. */
export interface StateTiming {
  readonly name: string;
  readonly type: string;
  readonly status: string;
  readonly durationMs: number;
}

export const JOBS: Record<string, Job> = {
  /** The hourly workflow (crawl → merge → compact → … → vacuum) on one arrival hour, as `lakehouse run hourly` runs it. */
  async hourly(args) {
    const lake = stringArg(args, 'lake');
    const hour = stringArg(args, 'hour');
    const runtime = openLocalRuntime(lake);
    const record = await runtime.runner.start('hourly', { hour });
    const states: StateTiming[] = record.states.map((state) => ({
      name: state.name,
      type: state.type,
      status: state.status,
      durationMs: state.durationMs ?? Number.NaN,
    }));
    const output = (record.output ?? {}) as {
      merge?: Record<string, unknown>;
      compact?: Record<string, unknown>;
      aggregate?: Record<string, unknown>;
      vacuum?: Record<string, unknown>;
    };
    const merge = output.merge ?? {};
    return {
      ok: record.status === 'SUCCEEDED',
      ...(record.status === 'SUCCEEDED' ? {} : { error: `${record.status}: ${record.error?.error ?? ''} ${record.error?.cause ?? ''}`.trim() }),
      ...(typeof merge.recordsRead === 'number' ? { recordsIn: merge.recordsRead } : {}),
      ...(typeof merge.accepted === 'number' ? { rowsOut: merge.accepted } : {}),
      details: {
        executionId: record.id,
        executionMs: record.durationMs,
        states,
        merge: pick(merge, ['objects', 'recordsRead', 'accepted', 'rejected', 'duplicates', 'lateEvents', 'filesWritten', 'rejectedByReason', 'notes']),
        partitionsTouched: Array.isArray(merge.partitionsTouched) ? merge.partitionsTouched.length : undefined,
        compact: output.compact,
        // What the raw-JSON suite repeats: the partitions the aggregate step was given (the ASL passes
        // $.merge.partitionsToCompact), and what it computed.
        partitionsAggregated: merge.partitionsToCompact,
        aggregate: pick(output.aggregate ?? {}, ['hours', 'days', 'filesWritten']),
        vacuum: output.vacuum,
      },
    };
  },

  /** The plain DuckDB read_json → dedup → sort → COPY PARTITION_BY of the same raw objects; see baseline.ts. */
  async 'duckdb-baseline'(args) {
    const result = await runBaseline({ lake: stringArg(args, 'lake'), out: stringArg(args, 'out') });
    return { ok: true, rowsOut: result.rowsOut };
  },

  /**
   * The aggregate step of an hourly run again, with its input, on the lake that run left, but through an
   * engine whose `events` reads the raw JSON objects instead of curated Parquet; see raw-json-aggregate-engine.ts.
   */
  async 'raw-json-aggregates'(args) {
    const lake = stringArg(args, 'lake');
    const engine = new RawJsonAggregateEngine({ lake, out: stringArg(args, 'out') });
    const input = { executionId: stringArg(args, 'executionId'), hour: stringArg(args, 'hour'), partitions: stringArrayArg(args, 'partitions') };
    const result = await runAggregate(input, { ...createLocalPorts(lake), engine });
    // One CSV a (query, period) job.
    return { ok: true, rowsOut: engine.rowsWritten, details: { jobs: result.filesWritten } };
  },

  /**
   * The pricing branch on the lake an hourly run left: the price model trained on it and served on
   * loopback; its endpoint's requests a second (one instance each, through the SageMaker runtime client
   * as the consumer calls it, ENDPOINT_CLIENTS at once); then the stream consumer's records a second,
   * delivering the signals the run wrote through that endpoint into the catalog.
   */
  async pricing(args) {
    const runtime = openLocalRuntime(stringArg(args, 'lake'));
    let started = performance.now();
    let catalog: readonly CatalogProduct[];
    try {
      ({ catalog } = await trainAndPublish(runtime));
    } catch (error) {
      // A small bench lake has too few purchases before its arrival hour for the model's holdout.
      if (error instanceof InsufficientDataError) return { ok: true, details: { skipped: error.message } };
      throw error;
    }
    const trainMs = performance.now() - started;
    const endpoint = await startTrainedModelEndpoint(runtime.store);
    if (endpoint === undefined) throw new Error('the model just published is not found');
    let requests = 0;
    let endpointMs: number;
    try {
      const instances: PriceInstance[] = catalog.map((product) => ({
        product_id: product.productId,
        category: product.category,
        current_price: product.basePrice,
        base_price: product.basePrice,
        cost: Math.round(product.basePrice * 50) / 100,
        inventory: 100,
        views_24h: 500,
        add_to_carts_24h: 40,
        purchases_24h: 10,
        revenue_24h: Math.round(product.basePrice * 1000) / 100,
      }));
      started = performance.now();
      const until = started + ENDPOINT_SECONDS * 1000;
      await Promise.all(
        Array.from({ length: ENDPOINT_CLIENTS }, async () => {
          while (performance.now() < until) await predictPrices(endpoint, [instances[requests++ % instances.length]!], 10_000);
        }),
      );
      endpointMs = performance.now() - started;
    } finally {
      await endpoint.close();
    }
    started = performance.now();
    const delivery = await runtime.pricing.deliver();
    const deliverMs = performance.now() - started;
    return {
      ok: delivery.status === 'delivered' && delivery.deadLettered === 0,
      ...(delivery.status === 'delivered' ? {} : { error: `delivery ${delivery.status}` }),
      details: { trainMs, requests, endpointMs, delivered: delivery.delivered, changed: delivery.changed, deliverMs },
    };
  },
};

/** How long, and with how many clients at once, the model endpoint is measured. */
const ENDPOINT_SECONDS = 5;
const ENDPOINT_CLIENTS = 8;

function stringArg(args: Record<string, unknown>, name: string): string {
  const value = args[name];
  if (typeof value !== 'string' || value === '') throw new Error(`job argument "${name}" must be a non-empty string`);
  return value;
}

function stringArrayArg(args: Record<string, unknown>, name: string): string[] {
  const value = args[name];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw new Error(`job argument "${name}" must be an array of strings`);
  return value;
}

function pick(object: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((key) => key in object).map((key) => [key, object[key]]));
}
