import { CURRENT_MODEL_KEY, modelKey, parseModel, publishModel, readCurrentModel, serializeModel } from '../../models/demand/artifact';
import { InsufficientDataError, MIN_HOLDOUT_UNITS, MIN_TRAINING_UNITS, trainDemandModel } from '../../models/demand/train';
import type { DemandModel } from '../../models/demand/artifact';
import { NotFoundError } from '../../tasks/ports/errors';
import { generateDemand, removeGenerated, type GeneratedDemand } from './generated-demand';

/**
 * Two days of traffic at 2 events a second: prices change from one day to the next (promotions and
 * surges of up to 25 %), so the held-out hours of the second day see prices the first did not, and
 * each category sells a few thousand units.
 */
describe('trainDemandModel on generated traffic', () => {
  let demand: GeneratedDemand;
  let model: DemandModel;

  beforeAll(async () => {
    demand = await generateDemand({ from: '2021-07-12T00', to: '2021-07-14T00', rate: 2, seed: 5 });
    model = trainDemandModel(demand.cells, demand.catalog);
  });

  afterAll(() => removeGenerated(demand));

  it('predicts held-out units per product better than the price-blind baseline', () => {
    expect(model.evaluation.products).toBeGreaterThan(150);
    expect(model.evaluation.units).toBeGreaterThan(1_000);
    // Prices move by up to 25 % and elasticities reach -2.5, so knowing the price is worth much more than noise.
    expect(model.evaluation.modelRmse).toBeLessThan(0.8 * model.evaluation.baselineRmse);
  });

  it("recovers each category's true elasticity within three standard deviations, and finds the most and least price-sensitive", () => {
    const truth = new Map(demand.catalog.map((product) => [product.category, product.trueElasticity as number]));
    expect(Object.keys(model.categories).sort()).toEqual([...truth.keys()].sort());
    for (const [category, curve] of Object.entries(model.categories)) {
      expect(curve.elasticitySd).toBeLessThan(0.4);
      expect(Math.abs(curve.elasticity - (truth.get(category) as number))).toBeLessThan(3 * curve.elasticitySd);
    }
    const byEstimate = Object.entries(model.categories).sort(([, a], [, b]) => a.elasticity - b.elasticity).map(([category]) => category);
    const byTruth = [...truth.entries()].sort(([, a], [, b]) => a - b).map(([category]) => category);
    expect(byEstimate[0]).toBe(byTruth[0]);
    expect(byEstimate.at(-1)).toBe(byTruth.at(-1));
  });

  it('holds out the latest hours, about a quarter of the views', () => {
    const { from, holdoutFrom, to } = model.trainedOn;
    expect(from < holdoutFrom && holdoutFrom < to).toBe(true);
    const views = (keep: (hour: string) => boolean) => demand.cells.filter((cell) => keep(cell.hour)).reduce((total, cell) => total + cell.views, 0);
    const share = views((hour) => hour >= holdoutFrom) / views(() => true);
    expect(share).toBeGreaterThanOrEqual(0.25);
    expect(share).toBeLessThan(0.35);
  });

  it('derives the version from the data: the same cells give the same version, other cells another', () => {
    expect(trainDemandModel(demand.cells, demand.catalog)).toEqual(model);
    expect(model.version).toMatch(/^2021-07-14T00-[0-9a-f]{12}$/);
    const firstDay = demand.cells.filter((cell) => cell.hour < '2021-07-13T00');
    expect(trainDemandModel(firstDay, demand.catalog).version).not.toBe(model.version);
  });

  it('publishes the artifact under its version and points current.json at it', async () => {
    await expect(readCurrentModel(demand.store)).rejects.toThrow(NotFoundError);
    const key = await publishModel(demand.store, model);
    expect(key).toBe(modelKey(model.version));
    expect((await demand.store.get(key)).toString('utf8')).toBe(serializeModel(model));
    expect(await readCurrentModel(demand.store)).toEqual(model);
    expect(JSON.parse((await demand.store.get(CURRENT_MODEL_KEY)).toString('utf8'))).toEqual({ version: model.version, key });
    expect(parseModel(serializeModel(model), key)).toEqual(model);
  });

  it('refuses an artifact that is not a model, saying where and why', () => {
    expect(() => parseModel('{"format": "demand-response/v1"', 'a.json')).toThrow(/^a\.json is not JSON/);
    expect(() => parseModel(JSON.stringify({ ...model, pooled: { ...model.pooled, elasticity: 'steep' } }), 'b.json')).toThrow(
      /^b\.json is not a demand-response\/v1 model: pooled\.elasticity: /,
    );
  });

  it('refuses too little data with the reason', () => {
    const firstHours = demand.cells.filter((cell) => cell.hour < '2021-07-12T01');
    expect(() => trainDemandModel(firstHours, demand.catalog)).toThrow(InsufficientDataError);
    expect(() => trainDemandModel(firstHours, demand.catalog)).toThrow(
      new RegExp(`^too little data: \\d+ units sold at viewed prices \\(\\d+ views\\) before .*; need at least ${MIN_TRAINING_UNITS} and ${MIN_HOLDOUT_UNITS}$`),
    );
    const oneHour = demand.cells.filter((cell) => cell.hour === '2021-07-12T12');
    expect(() => trainDemandModel(oneHour, demand.catalog)).toThrow(/^too little data: views or orders of catalog products in 1 event hours; need at least 2 /);
    expect(() => trainDemandModel(demand.cells, [])).toThrow(/in 0 event hours/);
  });
});
