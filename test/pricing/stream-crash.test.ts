/**
 * The local stream's checkpoint across real crashes: a child process drains the price_signals stream
 * into the consumer and is killed with SIGKILL, once while the model is being asked (before anything
 * of the batch applied) and once after the consumer applied a batch but before its acknowledgement;
 * a third child finishes. Nothing may be lost, nothing acknowledged may be delivered again, and the
 * batch that was applied but not acknowledged, delivered again, must change nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { sequenceOf, StreamLog } from '../../tasks/adapters/local/stream-log';
import { FsDeadLetterQueue } from '../../tasks/adapters/local/fs-dead-letter-queue';
import { DEAD_LETTERS_PREFIX } from '../../tasks/runtime/local-pricing';
import { PRICE_SIGNALS_STREAM_PREFIX } from '../../tasks/runtime/local-ports';
import { recommend, startModelEndpointFixture, type ModelEndpointFixture } from './model-endpoint-fixture';
import { createTestLake, holdTables, product, productItem, seed, signal, type TestLake } from './tables-fixture';

const RUN_TS = path.resolve(__dirname, '../../bin/run-ts.js');
const CHILD = path.resolve(__dirname, 'stream-child.ts');
const BATCH_SIZE = 5;
const PRODUCTS = Array.from({ length: 10 }, (_, index) => index + 1);
const HOURS = ['2021-07-12T05', '2021-07-12T06', '2021-07-12T07'];

interface Child {
  readonly process: ChildProcess;
  readonly lines: string[];
  /** Resolves with the first line (seen or to come) for which `match` holds. */
  line(match: (line: string) => boolean): Promise<string>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<ChildProcess>();

function startChild(lake: string, modelUrl: string): Child {
  const child = spawn(process.execPath, [RUN_TS, CHILD, lake, modelUrl, String(BATCH_SIZE)], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const lines: string[] = [];
  const waiting: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  let partial = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const waiter of waiting.filter(({ match }) => match(line))) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      live.delete(child);
      if (code !== 0 && signal === null) process.stderr.write(`stream child failed: ${stderr}\n`);
      resolve({ code, signal });
    }),
  );
  return {
    process: child,
    lines,
    exited,
    line: (match) => {
      const seen = lines.find(match);
      return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => waiting.push({ match, resolve }));
    },
  };
}

/** The sequence number each `deliver` line of a child starts its batch at. */
function deliveredFrom(child: Child): string[] {
  return child.lines.filter((line) => line.startsWith('deliver ')).map((line) => line.slice('deliver '.length).split('-')[0]!);
}

describe('the local stream after a crash', () => {
  let lake: TestLake;
  let model: ModelEndpointFixture;
  let log: StreamLog;

  beforeEach(async () => {
    lake = createTestLake('stream-crash');
    await seed(lake.tables, PRODUCTS.map((id) => product(id)));
    log = new StreamLog(lake.store, { tableName: 'price_signals', prefix: PRICE_SIGNALS_STREAM_PREFIX });
    for (const hour of HOURS) {
      await log.record(PRODUCTS.map((id) => ({ eventName: 'INSERT' as const, keys: { product_id: id, event_hour: hour }, newImage: signal(id, hour) })));
    }
    model = await startModelEndpointFixture(recommend(1.05));
  });

  afterEach(async () => {
    for (const child of live) child.kill('SIGKILL');
    await model.close();
    lake.remove();
  });

  it('loses nothing and applies nothing twice when the consumer is killed and restarted', async () => {
    const all = (await log.readAfter(undefined, 100)).map(sequenceOf);
    const answer = recommend(1.05);

    // 1: killed while the model is asked about the second batch, before anything of it applied.
    const first = startChild(lake.dir, model.url);
    model.answer = (request) => {
      if (model.requests.length === 2) {
        first.process.kill('SIGKILL');
        return 'hang';
      }
      return answer(request);
    };
    expect((await first.exited).signal).toBe('SIGKILL');
    model.answer = answer;
    const afterFirst = await log.checkpoint();
    expect(afterFirst).toBe(all[BATCH_SIZE - 1]);

    // 2: killed after the consumer applied its second batch (the stream's third), before the acknowledgement.
    const second = startChild(lake.dir, model.url);
    await second.line((line) => line === `handled ${all[3 * BATCH_SIZE - 1]}`);
    second.process.kill('SIGKILL');
    expect((await second.exited).signal).toBe('SIGKILL');
    const afterSecond = await log.checkpoint();
    expect(afterSecond).toBe(all[2 * BATCH_SIZE - 1]);

    // 3: runs to the end.
    const third = startChild(lake.dir, model.url);
    expect(await third.exited).toEqual({ code: 0, signal: null });
    expect(third.lines.at(-1)).toBe('done');

    // Each restart began right after what was acknowledged, never before it.
    expect(deliveredFrom(second)[0]).toBe(all[BATCH_SIZE]);
    expect(deliveredFrom(third)[0]).toBe(all[2 * BATCH_SIZE]);
    expect(await log.checkpoint()).toBe(all.at(-1));

    // Every signal applied exactly once: three steps of +5 % for every product, one audit row per signal.
    const { session, release } = await holdTables(lake.tables);
    try {
      for (const id of PRODUCTS) {
        expect(await productItem(session, id)).toMatchObject({ current_price: 115.76, price_version: 3, priced_through_hour: HOURS[2] });
        const { Items } = await session.doc.send(
          new QueryCommand({ TableName: session.names.priceHistory, KeyConditionExpression: 'product_id = :p', ExpressionAttributeValues: { ':p': id }, ConsistentRead: true }),
        );
        expect(Items).toHaveLength(HOURS.length);
      }
    } finally {
      await release();
    }
    // The batch applied before the second kill came again and asked the model nothing: 2 + 2 + 3 requests.
    expect(model.requests).toHaveLength(7);
    expect(await new FsDeadLetterQueue(lake.store, DEAD_LETTERS_PREFIX).list()).toEqual([]);
  });
});
