/**
 * A Poisson regression with a log link, an exposure and one covariate, fitted by penalised maximum
 * likelihood: units ~ Poisson(exposure · exp(intercept + slope · x)). With x = ln(price / base price)
 * and exposure = views, the slope is the price elasticity of units per view.
 */

/** Observations that share one covariate value. */
export interface ExposureCell {
  /** The covariate, ln(price / base price). */
  readonly x: number;
  /** Views: where demand could happen. */
  readonly exposure: number;
  /** Units sold. */
  readonly count: number;
}

/** A Gaussian prior on one parameter: what the fit falls back to where the data say little. */
export interface NormalPrior {
  readonly mean: number;
  readonly sd: number;
}

export interface PoissonPriors {
  readonly intercept: NormalPrior;
  readonly slope: NormalPrior;
}

export interface PoissonFit {
  readonly intercept: number;
  readonly slope: number;
  /** Standard deviation of the slope: the inverse curvature of the penalised likelihood, times the overdispersion. */
  readonly slopeSd: number;
}

const MAX_ITERATIONS = 100;
const TOLERANCE = 1e-10;
const MAX_STEP_HALVINGS = 30;

/**
 * Newton's method on the penalised log-likelihood, which is strictly concave (the priors make it so
 * even when every x is the same), with step halving so that each step improves it. Deterministic:
 * the same cells in the same order give the same bits.
 */
export function fitPoisson(cells: readonly ExposureCell[], priors: PoissonPriors): PoissonFit {
  let intercept = priors.intercept.mean;
  let slope = priors.slope.mean;
  let current = penalisedLogLikelihood(cells, priors, intercept, slope);
  for (let iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
    const { gradient, hessian } = derivatives(cells, priors, intercept, slope);
    const [stepIntercept, stepSlope] = solve2(hessian, gradient);
    let scale = 1;
    let next = penalisedLogLikelihood(cells, priors, intercept - stepIntercept, slope - stepSlope);
    // `!(next >= current)` also rejects a NaN.
    for (let halving = 0; !(next >= current) && halving < MAX_STEP_HALVINGS; halving++) {
      scale /= 2;
      next = penalisedLogLikelihood(cells, priors, intercept - scale * stepIntercept, slope - scale * stepSlope);
    }
    if (!(next >= current)) break;
    intercept -= scale * stepIntercept;
    slope -= scale * stepSlope;
    current = next;
    if (Math.abs(scale * stepIntercept) < TOLERANCE && Math.abs(scale * stepSlope) < TOLERANCE) break;
  }
  const [[haa, hab], [, hbb]] = derivatives(cells, priors, intercept, slope).hessian;
  // The slope's entry of the inverse of the negative Hessian, widened by the overdispersion.
  const slopeVariance = -haa / (haa * hbb - hab * hab);
  return { intercept, slope, slopeSd: Math.sqrt(slopeVariance * dispersion(cells, intercept, slope)) };
}

/**
 * Pearson's estimate of the variance relative to the Poisson's, at least 1 (quasi-Poisson): units
 * come in orders of 1 to 3, so they vary more than a Poisson count and the plain curvature would
 * overstate how sure the fit is.
 */
function dispersion(cells: readonly ExposureCell[], intercept: number, slope: number): number {
  if (cells.length <= 2) return 1;
  let pearson = 0;
  for (const { x, exposure, count } of cells) {
    const expected = exposure * Math.exp(intercept + slope * x);
    pearson += (count - expected) ** 2 / expected;
  }
  return Math.max(1, pearson / (cells.length - 2));
}

function penalisedLogLikelihood(cells: readonly ExposureCell[], priors: PoissonPriors, intercept: number, slope: number): number {
  let sum = 0;
  for (const { x, exposure, count } of cells) {
    const eta = intercept + slope * x;
    // The constant terms (count · ln exposure, ln count!) do not move the maximum.
    sum += count * eta - exposure * Math.exp(eta);
  }
  return sum - logPriorPenalty(priors.intercept, intercept) - logPriorPenalty(priors.slope, slope);
}

function logPriorPenalty({ mean, sd }: NormalPrior, value: number): number {
  return (value - mean) ** 2 / (2 * sd * sd);
}

type Matrix2 = readonly [readonly [number, number], readonly [number, number]];

function derivatives(cells: readonly ExposureCell[], priors: PoissonPriors, intercept: number, slope: number) {
  let ga = -(intercept - priors.intercept.mean) / priors.intercept.sd ** 2;
  let gb = -(slope - priors.slope.mean) / priors.slope.sd ** 2;
  let haa = -1 / priors.intercept.sd ** 2;
  let hab = 0;
  let hbb = -1 / priors.slope.sd ** 2;
  for (const { x, exposure, count } of cells) {
    const expected = exposure * Math.exp(intercept + slope * x);
    ga += count - expected;
    gb += x * (count - expected);
    haa -= expected;
    hab -= x * expected;
    hbb -= x * x * expected;
  }
  const hessian: Matrix2 = [
    [haa, hab],
    [hab, hbb],
  ];
  return { gradient: [ga, gb] as const, hessian };
}

/** Solves H · d = g for a 2×2 matrix: the Newton step (subtracted, since H is negative definite). */
function solve2([[a, b], [c, d]]: Matrix2, [g0, g1]: readonly [number, number]): [number, number] {
  const determinant = a * d - b * c;
  return [(d * g0 - b * g1) / determinant, (a * g1 - c * g0) / determinant];
}
