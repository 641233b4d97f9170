/**
 * The pricing branch end to end on the embedded default: generated traffic seeds the catalog, an
 * hourly run writes signals, the local stream delivers them to the consumer, the model endpoint
 * answers, prices change within the guardrails, and price_history explains each change.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { generateTraffic } from '../../generator/generate';
import { openLocalRuntime } from '../../tasks/runtime/local-runtime';
import type { SignalsResult } from '../../tasks/signals/run';
import { recommend, startModelEndpointFixture, type ModelEndpointFixture } from './model-endpoint-fixture';

const HOUR = '2021-07-12T05';

describe('the pricing branch, end to end', () => {
  let lake: string;
  let model: ModelEndpointFixture;

  beforeAll(async () => {
    lake = mkdtempSync(path.join(tmpdir(), 'lakehouse-pricing-e2e-'));
    model = await startModelEndpointFixture(recommend(1.25));
  });

  afterAll(async () => {
    await model.close();
    rmSync(lake, { recursive: true, force: true });
  });

  it('runs an hour, delivers its signals once a model serves, and changes prices within the guardrails with an audit', async () => {
    const untrained = openLocalRuntime(lake);
    const report = await generateTraffic({ store: untrained.store, tables: untrained.tables, from: HOUR, to: '2021-07-12T06', rate: 1, seed: 5 });
    expect(report.tablesSeeded).toBe(true);

    const execution = await untrained.runner.start('hourly', { hour: HOUR });
    expect(execution.status).toBe('SUCCEEDED');
    const signals = (execution.output as { priceSignals: SignalsResult }).priceSignals;
    expect(signals.written).toBeGreaterThan(20);
    expect(signals.withoutCatalog).toBe(0);

    // No model trained: the records wait, undelivered and not failed.
    await expect(untrained.pricing.deliver()).resolves.toMatchObject({ status: 'no-model', pending: signals.written, delivered: 0 });

    const served = openLocalRuntime(lake, { startModelEndpoint: async () => model.endpoint });
    const delivery = await served.pricing.deliver();
    expect(delivery).toMatchObject({ status: 'delivered', delivered: signals.written, deadLettered: 0, pending: 0 });

    const { products, history } = (await served.pricing.readPrices())!;
    expect(history).toHaveLength(signals.written);
    const changes = history.filter((row) => row.decision === 'changed');
    expect([delivery.changed, delivery.held]).toEqual([changes.length, history.length - changes.length]);
    expect(changes.length).toBeGreaterThan(0);
    for (const change of changes) {
      expect(change.new_price / change.old_price).toBeLessThanOrEqual(1.1);
      expect(change.reason).toMatch(/^raised .*, capped at (\+10 % a change|the ceiling \d+\.\d\d)$/);
    }
    for (const item of products) {
      const own = changes.filter((change) => change.product_id === item.product_id).sort((a, b) => a.event_hour.localeCompare(b.event_hour));
      expect(item.price_version).toBe(own.length);
      expect(item.current_price).toBe(own.at(-1)?.new_price ?? item.base_price);
      expect(item.current_price).toBeLessThanOrEqual(item.ceiling_price);
    }

    // A rerun of the hour writes no signal, so nothing reaches the stream and no price moves.
    const rerun = await served.runner.rerun(execution.id);
    expect((rerun.output as { priceSignals: SignalsResult }).priceSignals).toMatchObject({ written: 0, unchanged: signals.signals });
    await expect(served.pricing.deliver()).resolves.toMatchObject({ status: 'idle', pending: 0 });
  });
});
