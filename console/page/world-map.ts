import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import countries110m from 'world-atlas/countries-110m.json';
import { echarts } from './charts';

/** The name the map is registered under. */
export const WORLD_MAP = 'world';

/**
 * ISO 3166-1 alpha-2 (what the lake's `country` column holds) → numeric, the `id` of world-atlas's
 * countries (Natural Earth, 1:110m): every country that map draws.
 */
const NUMERIC_OF_ALPHA2: Readonly<Record<string, string>> = {
  AE: '784', AF: '004', AL: '008', AM: '051', AO: '024', AQ: '010', AR: '032', AT: '040', AU: '036', AZ: '031',
  BA: '070', BD: '050', BE: '056', BF: '854', BG: '100', BI: '108', BJ: '204', BN: '096', BO: '068', BR: '076',
  BS: '044', BT: '064', BW: '072', BY: '112', BZ: '084', CA: '124', CD: '180', CF: '140', CG: '178', CH: '756',
  CI: '384', CL: '152', CM: '120', CN: '156', CO: '170', CR: '188', CU: '192', CY: '196', CZ: '203', DE: '276',
  DJ: '262', DK: '208', DO: '214', DZ: '012', EC: '218', EE: '233', EG: '818', EH: '732', ER: '232', ES: '724',
  ET: '231', FI: '246', FJ: '242', FK: '238', FR: '250', GA: '266', GB: '826', GE: '268', GH: '288', GL: '304',
  GM: '270', GN: '324', GQ: '226', GR: '300', GT: '320', GW: '624', GY: '328', HN: '340', HR: '191', HT: '332',
  HU: '348', ID: '360', IE: '372', IL: '376', IN: '356', IQ: '368', IR: '364', IS: '352', IT: '380', JM: '388',
  JO: '400', JP: '392', KE: '404', KG: '417', KH: '116', KP: '408', KR: '410', KW: '414', KZ: '398', LA: '418',
  LB: '422', LK: '144', LR: '430', LS: '426', LT: '440', LU: '442', LV: '428', LY: '434', MA: '504', MD: '498',
  ME: '499', MG: '450', MK: '807', ML: '466', MM: '104', MN: '496', MR: '478', MW: '454', MX: '484', MY: '458',
  MZ: '508', NA: '516', NC: '540', NE: '562', NG: '566', NI: '558', NL: '528', NO: '578', NP: '524', NZ: '554',
  OM: '512', PA: '591', PE: '604', PG: '598', PH: '608', PK: '586', PL: '616', PR: '630', PS: '275', PT: '620',
  PY: '600', QA: '634', RO: '642', RS: '688', RU: '643', RW: '646', SA: '682', SB: '090', SD: '729', SE: '752',
  SI: '705', SK: '703', SL: '694', SN: '686', SO: '706', SR: '740', SS: '728', SV: '222', SY: '760', SZ: '748',
  TD: '148', TF: '260', TG: '768', TH: '764', TJ: '762', TL: '626', TM: '795', TN: '788', TR: '792', TT: '780',
  TW: '158', TZ: '834', UA: '804', UG: '800', US: '840', UY: '858', UZ: '860', VE: '862', VN: '704', VU: '548',
  YE: '887', ZA: '710', ZM: '894', ZW: '716',
};

const ANTARCTICA = '010';

type Ring = number[][];

/**
 * world-atlas stitches shapes across the antimeridian (for spherical projections): a ring of Russia
 * or Fiji jumps from 180° to -180°, which echarts' flat map would draw as a line across the world.
 * Such a ring is moved east instead (-179° becomes 181°).
 */
function unwrapAntimeridian<T extends { geometry: { type: string; coordinates?: unknown } }>(country: T): T {
  const fix = (ring: Ring): Ring => {
    const crosses = ring.some((point, index) => index > 0 && Math.abs(point[0]! - ring[index - 1]![0]!) > 180);
    return crosses ? ring.map(([lon, lat]) => [lon! < 0 ? lon! + 360 : lon!, lat!]) : ring;
  };
  const geometry = country.geometry;
  if (geometry.type === 'Polygon') return { ...country, geometry: { ...geometry, coordinates: (geometry.coordinates as Ring[]).map(fix) } };
  if (geometry.type === 'MultiPolygon') return { ...country, geometry: { ...geometry, coordinates: (geometry.coordinates as Ring[][]).map((polygon) => polygon.map(fix)) } };
  return country;
}

/** Countries the map draws without a numeric id, by their name there. */
const NAME_OF_ALPHA2: Readonly<Record<string, string>> = { XK: 'Kosovo' };

let nameOfAlpha2: Map<string, string> | undefined;

/** Registers world-atlas's countries (TopoJSON, converted to GeoJSON with topojson-client) with echarts, once. */
export function registerWorldMap(): void {
  if (nameOfAlpha2 !== undefined) return;
  const topology = countries110m as unknown as Topology<{ countries: GeometryCollection<{ name: string }> }>;
  const all = feature(topology, topology.objects.countries);
  // Antarctica wraps around the pole, which a flat lon/lat map cannot draw (and no clicks come from it).
  const countries = { ...all, features: all.features.filter((country) => country.id !== ANTARCTICA).map(unwrapAntimeridian) };
  const nameOfNumeric = new Map(all.features.map((country) => [String(country.id ?? ''), country.properties.name]));
  nameOfAlpha2 = new Map(
    [
      ...Object.entries(NUMERIC_OF_ALPHA2).map(([alpha2, numeric]) => [alpha2, nameOfNumeric.get(numeric)] as const),
      ...Object.entries(NAME_OF_ALPHA2),
    ].filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  echarts.registerMap(WORLD_MAP, countries as unknown as Parameters<typeof echarts.registerMap>[1]);
}

/** The map's name of a country, or undefined for one it does not draw (small islands, unknown). */
export function mapNameOf(alpha2: string | null): string | undefined {
  registerWorldMap();
  return alpha2 === null ? undefined : nameOfAlpha2!.get(alpha2);
}
