import { gunzipSync } from 'node:zlib';
import { FirehoseWriter } from '../../generator/firehose-writer';
import { listKeys, withTempLake } from './lake-reader';

const FROM_US = Date.UTC(2021, 6, 12, 5) * 1000;
const HOUR_US = 3_600_000_000;
const SECOND_US = 1_000_000;

describe('FirehoseWriter', () => {
  it('writes one gzip object per buffer window, records in arrival order to the second', async () => {
    await withTempLake(async (store) => {
      const hours: string[] = [];
      const writer = new FirehoseWriter({
        store,
        streamName: 'clickstream',
        bufferSeconds: 300,
        seed: 1,
        fromUs: FROM_US,
        toUs: FROM_US + 2 * HOUR_US,
        onHourWritten: (hour) => hours.push(hour),
      });
      writer.add(FROM_US + 7 * SECOND_US, 'c');
      writer.add(FROM_US + 5 * SECOND_US + 900_000, 'b1');
      writer.add(FROM_US + 5 * SECOND_US + 100_000, 'b2');
      writer.add(FROM_US + 1 * SECOND_US, 'a');
      writer.add(FROM_US + 300 * SECOND_US, 'next window');
      writer.add(FROM_US + HOUR_US + 299 * SECOND_US, 'next hour');
      await writer.flushBefore(FROM_US + 300 * SECOND_US);
      // The closed window is on its way to the store; the hour is not done yet.
      expect(writer.objects).toBe(1);
      expect(hours).toEqual([]);
      await writer.close();

      const keys = await listKeys(store, 'raw/');
      expect(keys.map((key) => key.replace(/-[0-9a-f-]{36}\.gz$/, ''))).toEqual([
        'raw/2021/07/12/05/clickstream-1-2021-07-12-05-00-00',
        'raw/2021/07/12/05/clickstream-1-2021-07-12-05-05-00',
        'raw/2021/07/12/06/clickstream-1-2021-07-12-06-00-00',
      ]);
      const bodies = await Promise.all(keys.map(async (key) => gunzipSync(await store.get(key)).toString('utf8')));
      // Within one second, records keep the order they were added in.
      expect(bodies).toEqual(['a\nb1\nb2\nc\n', 'next window\n', 'next hour\n']);
      expect(writer.objects).toBe(3);
      expect(hours).toEqual(['2021-07-12T05', '2021-07-12T06']);
    });
  });

  it('accepts only arrivals within the range', () => {
    const writer = new FirehoseWriter({
      store: undefined as never,
      streamName: 'clickstream',
      bufferSeconds: 300,
      seed: 1,
      fromUs: FROM_US,
      toUs: FROM_US + HOUR_US,
    });
    expect([FROM_US - 1, FROM_US, FROM_US + HOUR_US - 1, FROM_US + HOUR_US].map((us) => writer.accepts(us))).toEqual([
      false,
      true,
      true,
      false,
    ]);
  });

  it('keeps large lines intact across chunks', async () => {
    await withTempLake(async (store) => {
      const writer = new FirehoseWriter({ store, streamName: 's', bufferSeconds: 60, seed: 2, fromUs: FROM_US, toUs: FROM_US + HOUR_US });
      const lines = Array.from({ length: 500 }, (_, i) => `${i}:${'x'.repeat(i * 7)}`);
      for (const line of lines) writer.add(FROM_US, line);
      await writer.close();
      const [key] = await listKeys(store, 'raw/');
      expect(gunzipSync(await store.get(key as string)).toString('utf8')).toBe(`${lines.join('\n')}\n`);
    });
  });
});
