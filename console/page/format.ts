/** Number, size, time and duration formats shared by the views; counts and durations as the CLI prints them. */

export { formatCount as count, formatDuration as duration } from '../../cli/render';

const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });

export function percent(fraction: number, digits = 1): string {
  return `${(fraction * 100).toFixed(digits)} %`;
}

export function bytes(value: number): string {
  if (value < 1024) return `${value} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let scaled = value / 1024;
  let unit = 0;
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit += 1;
  }
  return `${scaled.toFixed(scaled < 10 ? 1 : 0)} ${units[unit]}`;
}

/** `2021-07-12T05:03:09.123Z` as `2021-07-12 05:03:09` (UTC). */
export function utc(iso: string | undefined): string {
  return iso ? iso.replace('T', ' ').slice(0, 19) : '-';
}

/** A country's English name from its ISO 3166-1 alpha-2 code. */
export function countryName(code: string | null): string {
  if (code === null || code === '') return 'unknown';
  try {
    return regionNames.of(code) ?? code;
  } catch {
    return code;
  }
}

export function money(value: number): string {
  return value.toFixed(2);
}

export function signedPercent(fraction: number): string {
  const value = Math.round(fraction * 1000) / 10;
  return `${value > 0 ? '+' : ''}${value.toFixed(1)} %`;
}
