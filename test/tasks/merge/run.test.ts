import { EVENT_COLUMNS, EVENTS_TABLE, REJECTS_TABLE } from '../../../tasks/curated/layout';
import { click, createLake } from './lake-fixture';

describe('runMerge', () => {
  it('routes valid events to their event-hour partitions, sorted, and rejects the rest with reasons', async () => {
    const lake = createLake();
    await lake.deliver('2021-07-12T05', '10-00', [
      click('b', '2021-07-12 05:30:00.000002'),
      click('a', '2021-07-12 05:30:00.000001'),
      '{"click_id": "broken", "timestamp": "2021-07-12 05:',
      click('late', '2021-07-12 02:59:59.999999'),
      { ...click('no-time', '2021-07-12 05:00:00'), timestamp: undefined },
      click('future', '2021-07-12 08:00:00.000001'),
      click('a', '2021-07-12 05:30:00.000001'),
    ]);
    const result = await lake.merge('2021-07-12T05');

    expect(result).toMatchObject({ objects: 1, recordsRead: 7, accepted: 3, rejected: 3, duplicates: 1, lateEvents: 1 });
    expect(result.rejectedByReason).toEqual({ malformed_json: 1, 'missing_field:timestamp': 1, future_timestamp: 1 });
    expect(result.accepted + result.rejected + result.duplicates).toBe(result.recordsRead);
    expect(result.partitionsTouched).toEqual(['dt=2021-07-12/hr=02', 'dt=2021-07-12/hr=05']);

    const files = await lake.curatedFiles();
    expect(files.map((file) => [file.partition, file.rows.map((row) => row.click_id)])).toEqual([
      ['dt=2021-07-12/hr=02', ['late']],
      ['dt=2021-07-12/hr=05', ['a', 'b']],
    ]);
    expect(files[1]?.rows[0]).toMatchObject({ event_time: '2021-07-12 05:30:00.000001', arrival_hour: '2021-07-12 05:00:00', record_number: 2, country: 'GB', ip_prefix: '81.2.69.0/24', dt: '2021-07-12', hr: '05' });

    const snapshot = await lake.catalog.snapshot();
    const rejects = snapshot.tables[REJECTS_TABLE]?.partitions['2021-07-12T05']?.files ?? [];
    expect(rejects).toHaveLength(1);
    const lines = (await lake.store.get(rejects[0]!.key)).toString().trim().split('\n').map((line) => JSON.parse(line));
    expect(lines.map((line) => [line.reason, line.record_number])).toEqual([
      ['malformed_json', 3],
      ['missing_field:timestamp', 5],
      ['future_timestamp', 6],
    ]);
    expect(lines[0].record).toBe('{"click_id": "broken", "timestamp": "2021-07-12 05:');
  });

  it('reads records concatenated without a separator', async () => {
    const lake = createLake();
    await lake.deliver('2021-07-12T05', '10-00', [click('x', '2021-07-12 05:01:00'), click('y', '2021-07-12 05:02:00')], '');
    const result = await lake.merge('2021-07-12T05');
    expect(result).toMatchObject({ recordsRead: 2, accepted: 2 });
  });

  it('appends late events as a sorted delta and drops copies that were already merged', async () => {
    const lake = createLake();
    await lake.deliver('2021-07-12T05', '10-00', [click('a', '2021-07-12 05:10:00'), click('c', '2021-07-12 05:30:00')]);
    await lake.merge('2021-07-12T05');
    await lake.deliver('2021-07-12T06', '10-00', [click('b', '2021-07-12 05:20:00'), click('a', '2021-07-12 05:10:00'), click('d', '2021-07-12 06:01:00')]);
    const result = await lake.merge('2021-07-12T06');
    expect(result).toMatchObject({ accepted: 2, duplicates: 1, lateEvents: 1 });

    const files = await lake.curatedFiles();
    const hour5 = files.filter((file) => file.partition === 'dt=2021-07-12/hr=05');
    expect(hour5.map((file) => file.rows.map((row) => row.click_id))).toEqual([['a', 'c'], ['b']]);
    const state = (await lake.catalog.snapshot()).tables[EVENTS_TABLE]?.partitions['dt=2021-07-12/hr=05'];
    expect(state?.files.map((file) => (file as { kind?: string }).kind)).toEqual(['base', 'delta']);
    expect(state?.properties).toMatchObject({ rows: 3, lateRows: 1 });
  });

  it('changes nothing when an hour is rerun', async () => {
    const lake = createLake();
    await lake.deliver('2021-07-12T05', '10-00', [click('a', '2021-07-12 05:10:00'), 'not json']);
    await lake.merge('2021-07-12T05');
    const before = await lake.catalog.snapshot();
    const rerun = await lake.merge('2021-07-12T05');
    expect(rerun).toMatchObject({ objects: 0, recordsRead: 0, accepted: 0, partitionsTouched: [] });
    const after = await lake.catalog.snapshot();
    expect(after.tables[EVENTS_TABLE]).toEqual(before.tables[EVENTS_TABLE]);
    expect(after.tables[REJECTS_TABLE]).toEqual(before.tables[REJECTS_TABLE]);
  });

  it('lets the earliest arrival win when a later hour was merged first', async () => {
    const lake = createLake();
    await lake.deliver('2021-07-12T05', '10-00', [click('a', '2021-07-12 05:10:00', { pixel_id: 'first' })]);
    await lake.deliver('2021-07-12T06', '10-00', [click('a', '2021-07-12 05:10:00', { pixel_id: 'second' }), click('z', '2021-07-12 05:50:00')]);
    await lake.merge('2021-07-12T06');
    const result = await lake.merge('2021-07-12T05');
    expect(result).toMatchObject({ accepted: 1, supersededRows: 1 });
    const rows = (await lake.curatedFiles()).flatMap((file) => file.rows);
    expect(rows.map((row) => [row.click_id, row.arrival_hour])).toEqual(
      expect.arrayContaining([
        ['a', '2021-07-12 05:00:00'],
        ['z', '2021-07-12 06:00:00'],
      ]),
    );
    expect(rows).toHaveLength(2);
  });

  it('picks up objects Firehose delivered into an hour after that hour ran', async () => {
    const lake = createLake();
    await lake.deliver('2021-07-12T05', '10-00', [click('a', '2021-07-12 05:10:00')]);
    await lake.merge('2021-07-12T05');
    await lake.deliver('2021-07-12T05', '59-00', [click('retried', '2021-07-12 05:58:00')]);
    const result = await lake.merge('2021-07-12T06');
    expect(result).toMatchObject({ objects: 1, accepted: 1 });
    const rows = (await lake.curatedFiles()).flatMap((file) => file.rows.map((row) => row.click_id));
    expect(rows.sort()).toEqual(['a', 'retried']);
  });

  it('joins user names from the users dimension, and runs without it', async () => {
    const lake = createLake();
    await lake.deliver('2021-07-12T05', '10-00', [click('a', '2021-07-12 05:10:00')]);
    const without = await lake.merge('2021-07-12T05');
    expect(without.notes).toEqual([expect.stringMatching(/no users dimension/)]);
    await lake.store.put('dims/users/users.jsonl', '{"user_id": "35", "name": "Semyon Ryan", "segment": "loyal"}\n');
    await lake.deliver('2021-07-12T06', '10-00', [click('b', '2021-07-12 06:10:00')]);
    const withUsers = await lake.merge('2021-07-12T06');
    expect(withUsers.notes).toEqual([]);
    const rows = (await lake.curatedFiles()).flatMap((file) => file.rows);
    expect(rows.find((row) => row.click_id === 'b')?.user_name).toBe('Semyon Ryan');
    expect(rows.find((row) => row.click_id === 'a')?.user_name).toBeNull();
  });

  it('enriches and sorts the small late partitions of an hour as it does its large one', async () => {
    const lake = createLake();
    await lake.store.put('dims/users/users.jsonl', '{"user_id": "35", "name": "Semyon Ryan", "segment": "loyal"}\n');
    // 40 on-time events and, 1 to 3 hours back, two late ones an hour: each late partition holds under an eighth of the rows.
    const onTime = Array.from({ length: 40 }, (_, i) => click(`now${String(i).padStart(2, '0')}`, `2021-07-12 05:${String(59 - i).padStart(2, '0')}:00`));
    const late = ['02', '03', '04'].flatMap((hour) => [click(`late${hour}b`, `2021-07-12 ${hour}:40:00`), click(`late${hour}a`, `2021-07-12 ${hour}:20:00`, { user_ip: '8.8.8.8' })]);
    await lake.deliver('2021-07-12T05', '10-00', [...late, ...onTime]);
    const result = await lake.merge('2021-07-12T05');
    expect(result.partitionsTouched).toEqual(['dt=2021-07-12/hr=02', 'dt=2021-07-12/hr=03', 'dt=2021-07-12/hr=04', 'dt=2021-07-12/hr=05']);
    const files = await lake.curatedFiles();
    for (const file of files) {
      const times = file.rows.map((row) => row.event_time as string);
      expect(times).toEqual([...times].sort());
      for (const row of file.rows) {
        expect(row.user_name).toBe('Semyon Ryan');
        expect(row.country).toBe(String(row.click_id).endsWith('a') && String(row.click_id).startsWith('late') ? 'US' : 'GB');
      }
    }
    expect(files.map((file) => file.rows.map((row) => row.click_id))).toEqual([['late02a', 'late02b'], ['late03a', 'late03b'], ['late04a', 'late04b'], expect.arrayContaining(['now00', 'now39'])]);
    // Text columns are plain UTF-8 strings in every file, whatever type the merge sorted them as, and a
    // file holds only its own rows' values: it is no larger than the same rows written from plain columns.
    const strings = EVENT_COLUMNS.filter(({ type }) => type === 'string').map(({ name }) => name);
    expect(strings).toEqual(expect.arrayContaining(['source_key', 'country', 'user_name']));
    for (const file of files) {
      for (const name of strings) expect([name, file.schema[name]]).toEqual([name, name === 'extra' ? 'BYTE_ARRAY/JSON' : 'BYTE_ARRAY/UTF8']);
      expect([file.key, file.size]).toEqual([file.key, file.plainSize]);
    }
  });
});

describe('runMerge after a crash between merge and compaction', () => {
  it('hands a rerun the partitions the earlier merge of the hour touched, to compact', async () => {
    const lake = createLake();
    await lake.deliver('2021-07-12T05', '10-00', [click('a', '2021-07-12 05:10:00'), click('late', '2021-07-12 03:10:00')]);
    const first = await lake.merge('2021-07-12T05');
    const rerun = await lake.merge('2021-07-12T05');
    expect(rerun.partitionsTouched).toEqual([]);
    expect(rerun.partitionsToCompact).toEqual(first.partitionsTouched);
    expect(rerun.partitionsToCompact).toEqual(['dt=2021-07-12/hr=03', 'dt=2021-07-12/hr=05']);
  });
});
