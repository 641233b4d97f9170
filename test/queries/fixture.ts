import { DuckDBInstance } from '@duckdb/node-api';
import { EVENTS_TABLE } from '../../tasks/curated/layout';
import { createLake } from '../tasks/merge/lake-fixture';

export const EXECUTION = 'arn:aws:states:us-east-1:000000000000:execution:lakehouse-hourly:aggregate-test';
export const DAY = '2021-07-12';

/** One hand-made click, as the test reasons about it. */
export interface HandEvent {
  readonly click_id: string;
  readonly user_id: string;
  /** `YYYY-MM-DD HH:MM:SS`, UTC */
  readonly time: string;
  readonly event_name: 'Search' | 'ViewContent' | 'AddToCart' | 'Purchase';
  readonly product_id?: number;
  readonly price?: number;
  readonly percent_viewed?: number;
  readonly ip: string;
}

export const USERS = [
  { user_id: 'u1', name: 'Ann', segment: 'loyal' },
  { user_id: 'u2', name: 'Bob', segment: 'new' },
  { user_id: 'u3', name: 'Cid', segment: 'returning' },
  { user_id: 'u4', name: 'Dee', segment: 'loyal' },
  { user_id: 'u6', name: 'Fay', segment: 'new' },
  { user_id: 'u7', name: 'Gus', segment: 'returning' },
  { user_id: 'u|"8"', name: 'Hal', segment: 'new' },
];

const GB = '81.2.69.160';
const US = '8.8.8.8';
const PRIVATE = '10.1.2.3';

function ev(click_id: string, user_id: string, time: string, event_name: HandEvent['event_name'], ip: string, extra: Partial<HandEvent> = {}): HandEvent {
  return { click_id, user_id, time: `${DAY} ${time}`, event_name, ip, product_id: 100, price: 10, percent_viewed: 20, ...extra };
}

/**
 * Events of hours 04, 05 and 06 of one day, chosen to exercise the rules: u1's session crosses 05:00
 * (it starts at 04:50, so its funnel belongs to hour 04); u2 adds to cart before viewing (out of order:
 * no cart step); u3 waits 31 minutes before buying (a new session: no purchase step); u4 completes the
 * funnel and continues into hour 06; u5 is not in the users dimension; u6 pauses exactly 30 minutes
 * (the same session); u7 clicks at 05:57 (the sliding window of 06:00-06:01); `u|"8"` needs quoting.
 */
export function handEvents(): HandEvent[] {
  return [
    ev('a01', 'u1', '04:10:00', 'Search', GB),
    ev('a02', 'u2', '04:20:30', 'Search', US),
    ev('a03', 'u1', '04:50:00', 'Search', GB),
    ev('a04', 'u1', '04:55:00', 'ViewContent', GB, { product_id: 101, percent_viewed: 90 }),
    ev('a05', 'u1', '05:05:00', 'AddToCart', GB, { product_id: 101 }),
    ev('a06', 'u1', '05:10:00', 'Purchase', GB, { product_id: 101, price: 100 }),
    ev('b01', 'u2', '05:00:00', 'Search', US),
    ev('b02', 'u2', '05:01:00', 'AddToCart', US, { product_id: 102 }),
    ev('b03', 'u2', '05:02:00', 'ViewContent', US, { product_id: 102, percent_viewed: 61 }),
    ev('b04', 'u2', '05:03:00', 'Purchase', US, { product_id: 102, price: 50 }),
    ev('c01', 'u3', '05:10:00', 'Search', PRIVATE),
    ev('c02', 'u3', '05:12:00', 'ViewContent', PRIVATE, { product_id: 103, percent_viewed: 80 }),
    ev('c03', 'u3', '05:15:00', 'AddToCart', PRIVATE, { product_id: 103 }),
    ev('c04', 'u3', '05:46:00', 'Purchase', PRIVATE, { product_id: 103, price: 33.33 }),
    ev('d01', 'u4', '05:20:00', 'Search', GB),
    ev('d02', 'u4', '05:21:00', 'ViewContent', GB, { product_id: 104, percent_viewed: 75 }),
    ev('d03', 'u4', '05:22:00', 'ViewContent', GB, { product_id: 104, percent_viewed: 60 }),
    ev('d04', 'u4', '05:25:00', 'AddToCart', GB, { product_id: 104 }),
    ev('d05', 'u4', '05:30:00', 'Purchase', GB, { product_id: 104, price: 200.5 }),
    ev('d06', 'u4', '05:58:00', 'Search', GB),
    ev('d07', 'u4', '06:10:00', 'ViewContent', GB, { product_id: 101, percent_viewed: 99 }),
    ev('e01', 'u5', '06:01:00', 'Search', US),
    ev('e02', 'u5', '06:05:00', 'Purchase', US, { product_id: 105, price: 10.25 }),
    ev('f01', 'u6', '06:00:00', 'Search', PRIVATE),
    ev('f02', 'u6', '06:30:00', 'ViewContent', PRIVATE, { product_id: 106, percent_viewed: 65 }),
    ev('f03', 'u6', '06:31:00', 'AddToCart', PRIVATE, { product_id: 106 }),
    ev('f04', 'u6', '06:40:00', 'Purchase', PRIVATE, { product_id: 106, price: 7 }),
    ev('g01', 'u7', '05:57:00', 'Search', US),
    ev('g02', 'u7', '06:02:00', 'Search', US),
    ev('h01', 'u|"8"', '06:15:00', 'Search', GB),
    ev('h02', 'u|"8"', '06:15:00', 'ViewContent', GB, { product_id: 107, percent_viewed: 70 }),
    // many searches in 06: an anomaly against hours 04 and 05
    ...Array.from({ length: 12 }, (_, index) => ev(`s${String(index).padStart(2, '0')}`, `bulk${index % 3}`, `06:${String(20 + index).padStart(2, '0')}:00`, 'Search', US)),
  ];
}

/** The raw record Firehose delivers for a hand-made event. */
export function rawRecord(event: HandEvent): Record<string, unknown> {
  return {
    timestamp: event.time,
    insertion_timestamp: event.time,
    user_id: event.user_id,
    pixel_id: 'wjgao4w1oi',
    click_id: event.click_id,
    event_name: event.event_name,
    user_ip: event.ip,
    additional_data: { time_on_data: 5, percent_viewed: event.percent_viewed, product_id: event.product_id, price: event.price },
  };
}

/** A lake holding `events` (delivered in arrival hour 06 and merged) and the users dimension. */
export async function buildLake(events: readonly HandEvent[] = handEvents()) {
  const lake = createLake();
  await lake.store.put('dims/users/users.jsonl', USERS.map((user) => `${JSON.stringify(user)}\n`).join(''));
  await lake.deliver(`${DAY}T06`, 'first', events.map(rawRecord));
  const merged = await lake.merge(`${DAY}T06`);
  return { ...lake, merged };
}

/** Country and region of every curated click, as the merge's geolocation gave them. */
export async function geoOf(lake: { store: { locate(key: string): string }; catalog: { snapshot(): Promise<{ tables: Record<string, { partitions: Record<string, { files: readonly { key: string }[] }> } | undefined> }> } }): Promise<Map<string, { country: string | null; region: string | null }>> {
  const snapshot = await lake.catalog.snapshot();
  const files = Object.values(snapshot.tables[EVENTS_TABLE]?.partitions ?? {}).flatMap((state) => state.files.map((file) => `'${lake.store.locate(file.key)}'`));
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  try {
    const reader = await db.runAndReadAll(`SELECT click_id, country, region FROM read_parquet([${files.join(', ')}], hive_partitioning = false)`);
    const rows = reader.getRowObjectsJS() as { click_id: string; country: string | null; region: string | null }[];
    return new Map(rows.map((row) => [row.click_id, { country: row.country, region: row.region }]));
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

/** Parses UNLOAD-style CSV (`|`, header, double quotes); an unquoted empty field is NULL. */
export function parseCsv(text: string): { header: string[]; rows: (string | null)[][] } {
  const records: (string | null)[][] = [];
  let field = '';
  let quoted = false;
  let wasQuoted = false;
  let record: (string | null)[] = [];
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') {
        field += '"';
        index++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') {
      quoted = true;
      wasQuoted = true;
    } else if (char === '|' || char === '\n') {
      record.push(field === '' && !wasQuoted ? null : field);
      field = '';
      wasQuoted = false;
      if (char === '\n') {
        records.push(record);
        record = [];
      }
    } else field += char;
  }
  if (field !== '' || record.length > 0) throw new Error('CSV does not end with a line break');
  const [header, ...rows] = records;
  return { header: header as string[], rows };
}
