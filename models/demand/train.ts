import { addHours, type Hour } from '../../tasks/shared/hours';
import { DEMAND_MODEL_FORMAT, versioned, type DemandCurve, type DemandModel, type Evaluation } from './artifact';
import { fitPoisson, type ExposureCell, type PoissonPriors } from './poisson-fit';
import { unitsPerView } from './predict';
import type { CatalogProduct, DemandCell } from './training-data';

/** The later hours that hold about this share of the views are held out to measure the model. */
export const HOLDOUT_SHARE = 0.25;
/** Below this many units a curve per category says little; below the holdout's, its error says little. */
export const MIN_TRAINING_UNITS = 100;
export const MIN_HOLDOUT_UNITS = 25;

/**
 * The shop-wide fit's priors: weak, so the data decide. The intercept's is centred on the observed
 * units per view; the elasticity's on 0 (no price response), which matters only if no price ever moved.
 */
const POOLED_SD = { intercept: 1, slope: 2 } as const;
/**
 * Each category's curve is shrunk towards the shop-wide one: a category with little data keeps
 * close to it, one with thousands of units is hardly moved (category elasticities typically lie
 * within about 1 of the shop-wide one).
 */
const CATEGORY_SD = { intercept: 1, slope: 1 } as const;

/** The data cannot support a model: too few hours or units. */
export class InsufficientDataError extends Error {
  override readonly name = 'InsufficientDataError';
}

/**
 * Fits one demand curve per category (a Poisson regression of units on views and ln(price / base
 * price), partially pooled towards the shop-wide curve) on all but the latest hours, and measures it
 * on those: each product's units over the held-out hours, against a price-blind baseline (its
 * category's training units per view). The model is the one measured: it is not refitted on the
 * held-out hours. Cells of products missing from the catalog are left out (their base price is unknown).
 */
export function trainDemandModel(cells: readonly DemandCell[], catalog: readonly CatalogProduct[]): DemandModel {
  const products = new Map(catalog.map((product) => [product.productId, product]));
  const known = cells.filter((cell) => products.has(cell.productId));
  const hours = [...new Set(known.map((cell) => cell.hour))].sort();
  if (hours.length < 2) {
    throw new InsufficientDataError(`too little data: views or orders of catalog products in ${hours.length} event hours; need at least 2 to hold the later ones out`);
  }
  const holdoutFrom = holdoutStart(known, hours);
  const training = known.filter((cell) => cell.hour < holdoutFrom);
  const holdout = known.filter((cell) => cell.hour >= holdoutFrom);
  const exposures = (subset: readonly DemandCell[]) => exposureCells(subset, products);
  const trainingExposures = exposures(training);
  // Only units at a price that also had views inform units per view.
  const trainingUnits = sum(trainingExposures, (cell) => cell.count);
  const holdoutUnits = sum(holdout, (cell) => cell.units);
  if (trainingUnits < MIN_TRAINING_UNITS || holdoutUnits < MIN_HOLDOUT_UNITS) {
    throw new InsufficientDataError(
      `too little data: ${trainingUnits} units sold at viewed prices (${sum(training, (cell) => cell.views)} views) before ${holdoutFrom} and ${holdoutUnits} from then on; ` +
        `need at least ${MIN_TRAINING_UNITS} and ${MIN_HOLDOUT_UNITS}`,
    );
  }

  const pooled = fitCurve(trainingExposures, (rate) => ({
    intercept: { mean: Math.log(rate), sd: POOLED_SD.intercept },
    slope: { mean: 0, sd: POOLED_SD.slope },
  }));
  const categoryPriors: PoissonPriors = {
    intercept: { mean: pooled.intercept, sd: CATEGORY_SD.intercept },
    slope: { mean: pooled.elasticity, sd: CATEGORY_SD.slope },
  };
  const categoryNames = [...new Set(catalog.map((product) => product.category))].sort();
  const categories = Object.fromEntries(
    categoryNames.map((category) => [
      category,
      fitCurve(exposures(training.filter((cell) => products.get(cell.productId)?.category === category)), () => categoryPriors),
    ]),
  );

  return versioned({
    format: DEMAND_MODEL_FORMAT,
    trainedOn: { from: hours[0] as Hour, holdoutFrom, to: addHours(hours[hours.length - 1] as Hour, 1) },
    pooled,
    categories,
    evaluation: evaluate(holdout, products, categories, pooled),
  });
}

/** The first hour of the latest hours that together hold at least HOLDOUT_SHARE of the views; never the first hour. */
function holdoutStart(cells: readonly DemandCell[], hours: readonly Hour[]): Hour {
  const viewsByHour = new Map<Hour, number>();
  for (const cell of cells) viewsByHour.set(cell.hour, (viewsByHour.get(cell.hour) ?? 0) + cell.views);
  const target = HOLDOUT_SHARE * sum(cells, (cell) => cell.views);
  let heldOut = 0;
  for (let index = hours.length - 1; index >= 1; index--) {
    heldOut += viewsByHour.get(hours[index] as Hour) ?? 0;
    if (heldOut >= target) return hours[index] as Hour;
  }
  return hours[1] as Hour;
}

/**
 * The fitting grain: each product at each price over the whole window (hours only split train from
 * holdout). A price without views says nothing about units per view and is left out.
 */
function exposureCells(cells: readonly DemandCell[], products: ReadonlyMap<number, CatalogProduct>): ExposureCell[] {
  const byProductPrice = new Map<string, { x: number; exposure: number; count: number }>();
  for (const cell of cells) {
    const key = `${cell.productId}@${cell.price}`;
    const entry = byProductPrice.get(key);
    if (entry) {
      entry.exposure += cell.views;
      entry.count += cell.units;
    } else {
      const basePrice = (products.get(cell.productId) as CatalogProduct).basePrice;
      byProductPrice.set(key, { x: Math.log(cell.price / basePrice), exposure: cell.views, count: cell.units });
    }
  }
  return [...byProductPrice.values()].filter((cell) => cell.exposure > 0);
}

function fitCurve(cells: readonly ExposureCell[], priorsFor: (unitsPerView: number) => PoissonPriors): DemandCurve {
  const views = sum(cells, (cell) => cell.exposure);
  const units = sum(cells, (cell) => cell.count);
  const fit = fitPoisson(cells, priorsFor(units / views));
  return { intercept: fit.intercept, elasticity: fit.slope, elasticitySd: fit.slopeSd, views, units };
}

function evaluate(
  holdout: readonly DemandCell[],
  products: ReadonlyMap<number, CatalogProduct>,
  categories: Readonly<Record<string, DemandCurve>>,
  pooled: DemandCurve,
): Evaluation {
  const trainingRate = (curve: DemandCurve) => curve.units / curve.views;
  const perProduct = new Map<number, { actual: number; model: number; baseline: number }>();
  for (const cell of holdout) {
    const product = products.get(cell.productId) as CatalogProduct;
    const curve = categories[product.category] as DemandCurve;
    const totals = perProduct.get(cell.productId) ?? { actual: 0, model: 0, baseline: 0 };
    totals.actual += cell.units;
    totals.model += cell.views * unitsPerView(curve, cell.price, product.basePrice);
    totals.baseline += cell.views * trainingRate(curve.views > 0 ? curve : pooled);
    perProduct.set(cell.productId, totals);
  }
  const rows = [...perProduct.values()];
  const rmse = (predicted: (row: (typeof rows)[number]) => number) => Math.sqrt(sum(rows, (row) => (row.actual - predicted(row)) ** 2) / rows.length);
  return {
    products: rows.length,
    units: sum(rows, (row) => row.actual),
    modelRmse: rmse((row) => row.model),
    baselineRmse: rmse((row) => row.baseline),
  };
}

function sum<T>(items: readonly T[], value: (item: T) => number): number {
  return items.reduce((total, item) => total + value(item), 0);
}
