import { fitPoisson, type ExposureCell } from '../../models/demand/poisson-fit';

const WEAK = { intercept: { mean: 0, sd: 100 }, slope: { mean: 0, sd: 100 } };

describe('fitPoisson', () => {
  it('recovers the intercept and slope of counts that follow the curve exactly (up to the weak prior)', () => {
    const cells: ExposureCell[] = [-0.3, -0.1, 0, 0.1, 0.2].map((x) => ({ x, exposure: 1_000, count: 1_000 * Math.exp(-1.8 - 1.7 * x) }));
    const fit = fitPoisson(cells, WEAK);
    expect(fit.intercept).toBeCloseTo(-1.8, 4);
    expect(fit.slope).toBeCloseTo(-1.7, 4);
  });

  it('falls back to the prior where the data cannot tell: one price says nothing about the slope', () => {
    const fit = fitPoisson([{ x: 0, exposure: 500, count: 50 }], { intercept: { mean: 0, sd: 100 }, slope: { mean: -1.2, sd: 0.5 } });
    expect(fit.slope).toBeCloseTo(-1.2, 9);
    expect(fit.intercept).toBeCloseTo(Math.log(0.1), 3);
    expect(fit.slopeSd).toBeCloseTo(0.5, 9);
  });

  it('is surer with more data', () => {
    const cells = (scale: number): ExposureCell[] => [-0.2, 0, 0.2].map((x) => ({ x, exposure: 100 * scale, count: 15 * scale * Math.exp(-2 * x) }));
    expect(fitPoisson(cells(100), WEAK).slopeSd).toBeLessThan(fitPoisson(cells(1), WEAK).slopeSd / 5);
  });

  it('gives the same bits for the same cells', () => {
    const cells: ExposureCell[] = [
      { x: -0.25, exposure: 37, count: 9 },
      { x: 0.01, exposure: 412, count: 55 },
      { x: 0.18, exposure: 95, count: 7 },
    ];
    expect(fitPoisson(cells, WEAK)).toEqual(fitPoisson(cells, WEAK));
  });
});
