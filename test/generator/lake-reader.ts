import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FsObjectStore } from '../../tasks/adapters/local/fs-object-store';
import { arrivalHourOfKey, hourStartMs } from '../../tasks/shared/hours';

/** One line of a raw object, with what the object says about its arrival. */
export interface RawLine {
  readonly key: string;
  readonly arrivalHour: string;
  readonly hourStartMs: number;
  readonly text: string;
  /** The parsed record, or undefined when the line is not JSON. */
  readonly record: Record<string, unknown> | undefined;
}

export async function withTempLake<T>(body: (store: FsObjectStore, root: string) => Promise<T>): Promise<T> {
  const root = await mkdtemp(path.join(tmpdir(), 'generator-test-'));
  try {
    return await body(new FsObjectStore(root), root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export async function listKeys(store: FsObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys;
}

/** Every key under `prefix` with its bytes, in key order. */
export async function snapshot(store: FsObjectStore, prefix = ''): Promise<Map<string, Buffer>> {
  const objects = new Map<string, Buffer>();
  for (const key of await listKeys(store, prefix)) objects.set(key, await store.get(key));
  return objects;
}

export async function readRawLines(store: FsObjectStore): Promise<RawLine[]> {
  const lines: RawLine[] = [];
  for (const key of await listKeys(store, 'raw/')) {
    const arrivalHour = arrivalHourOfKey(key) as string;
    const text = gunzipSync(await store.get(key)).toString('utf8');
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.slice(0, -1).split('\n')) {
      lines.push({ key, arrivalHour, hourStartMs: hourStartMs(arrivalHour), text: line, record: parseObject(line) });
    }
  }
  return lines;
}

export async function readJsonLines(store: FsObjectStore, key: string): Promise<Record<string, unknown>[]> {
  const text = (await store.get(key)).toString('utf8');
  return text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Epoch milliseconds of a `YYYY-MM-DD HH:MM:SS.ffffff` UTC timestamp (microseconds dropped). */
export function timestampMs(value: unknown): number {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/.test(value)) {
    throw new Error(`not a client timestamp: ${JSON.stringify(value)}`);
  }
  return Date.parse(`${value.slice(0, 23).replace(' ', 'T')}Z`);
}

export const KNOWN_FIELDS = [
  'timestamp',
  'user_id',
  'pixel_id',
  'click_id',
  'insertion_timestamp',
  'event_name',
  'user_ip',
  'additional_data',
];

/** A record the pipeline accepts: required fields present with the right types. */
export function isWellFormed(record: Record<string, unknown> | undefined): record is Record<string, unknown> {
  return (
    record !== undefined &&
    typeof record.click_id === 'string' &&
    typeof record.timestamp === 'string' &&
    typeof record.event_name === 'string'
  );
}
