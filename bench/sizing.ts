import { hourStartMs } from '../tasks/shared/hours';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * The mean of the generator's daily traffic curve over one hour, as a multiple of the daily average: the
 * generator runs on-time traffic at `rate × (1 + 0.5 sin(2π (h − 9) / 24))`, h the UTC hour of the day
 * (see `eventsPerUs` in generator/generate.ts), so its integral over [h0, h0 + 1) gives the hour's mean.
 */
export function hourlyCurveFactor(hour: string): number {
  const h0 = (hourStartMs(hour) % DAY_MS) / HOUR_MS;
  const w = (2 * Math.PI) / 24;
  return 1 + (0.5 / w) * (Math.cos(w * (h0 - 9)) - Math.cos(w * (h0 + 1 - 9)));
}

/** The generator's `rate` (a daily average) that gives `eventsPerSecond` on-time events a second in `hour`. */
export function generatorRateFor(hour: string, eventsPerSecond: number): number {
  return eventsPerSecond / hourlyCurveFactor(hour);
}
