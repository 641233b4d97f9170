import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { parseRecordText, readRawRecords, type RawRecord } from '../../../tasks/shared/raw-records';

function read(body: string | Buffer, maxRecordBytes?: number): RawRecord[] {
  return [...readRawRecords(typeof body === 'string' ? Buffer.from(body) : body, maxRecordBytes === undefined ? {} : { maxRecordBytes })];
}

function texts(records: readonly RawRecord[]): (string | undefined)[] {
  return records.map((record) => record.text);
}

/** Flat objects: the cut-record property below holds for any cut of these but one right after a colon. */
const flatObject = fc.dictionary(
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.integer(), fc.double({ noDefaultInfinity: true, noNaN: true }), fc.boolean(), fc.constant(null)),
  { minKeys: 1, maxKeys: 5 },
);

const anyObject = fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 });

describe('readRawRecords', () => {
  it('reads newline-delimited records with 1-based record numbers', () => {
    const records = read('{"a":1}\n{"b":"x"}\n{"c":[1,{"d":2}]}\n');
    expect(texts(records)).toEqual(['{"a":1}', '{"b":"x"}', '{"c":[1,{"d":2}]}']);
    expect(records.map((record) => record.recordNumber)).toEqual([1, 2, 3]);
  });

  it('splits records concatenated with no separator where each top-level object closes', () => {
    expect(texts(read('{"a":{"b":1}}{"c":"}{"}{"d":"\\"}{"}'))).toEqual(['{"a":{"b":1}}', '{"c":"}{"}', '{"d":"\\"}{"}']);
  });

  it('reads a mix of newlines, concatenation, CRLF and blank lines', () => {
    const records = read('\n{"a":1}{"b":2}\r\n   \n\t\n{"c":3}\n\n{"d":4}');
    expect(texts(records)).toEqual(['{"a":1}', '{"b":2}', '{"c":3}', '{"d":4}']);
  });

  it('reads a gzip object exactly as the same plain object', () => {
    const body = '{"a":1}\n{"b":2}{"c":3}\n';
    expect(texts(read(gzipSync(body)))).toEqual(texts(read(body)));
    expect(texts(read(Buffer.concat([gzipSync('{"a":1}\n'), gzipSync('{"b":2}\n')])))).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('reads a gzip object whose trailer states less than its size: the last of several members', () => {
    // The trailer sizes zlib's output buffer; here it states the 8 bytes of the last member, not the ~300 KiB of the whole.
    const lines = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ i }));
    const records = read(Buffer.concat([gzipSync(`${lines.join('\n')}\n`), gzipSync('{"z":0}\n')]));
    expect(texts(records)).toEqual([...lines, '{"z":0}']);
  });

  it('keeps the readable prefix of a truncated gzip object', () => {
    const lines = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ i, pad: `${i}`.repeat(i % 7) }));
    const gzip = gzipSync(`${lines.join('\n')}\n`);
    const records = read(gzip.subarray(0, Math.floor(gzip.length * 0.6)));
    expect(records.length).toBeGreaterThan(500);
    const whole = records.slice(0, -1);
    expect(texts(whole)).toEqual(lines.slice(0, whole.length));
  });

  it('yields an undecodable gzip object as one invalid_encoding record instead of throwing', () => {
    const gzip = gzipSync(Buffer.from('{"a":1}\n'.repeat(100)));
    gzip.fill(0xff, 12, 20);
    const records = read(gzip);
    expect(records).toEqual([{ recordNumber: 1, bytes: gzip, error: 'invalid_encoding' }]);
  });

  it('ends a truncated record at the newline and reads the next line intact', () => {
    expect(texts(read('{"a":1,"b":"trunc\n{"c":3}\n{"d":\n{"e":5}'))).toEqual(['{"a":1,"b":"trunc', '{"c":3}', '{"d":', '{"e":5}']);
  });

  it.each([
    ['after a number', '{"a":12'],
    ['inside a string value', '{"a":"tru'],
    ['inside a key', '{"a":1,"ke'],
    ['after a string value', '{"a":"x"'],
    ['after a comma', '{"a":1,'],
    ['after a backslash', '{"a":"x\\'],
    ['inside a nested object', '{"a":{"b":true'],
    ['after an opening brace', '{'],
  ])('loses only the truncated record when it is cut %s and the next record follows on the same line', (_, cut) => {
    expect(texts(read(`${cut}{"next":1}{"after":"y"}\n{"line":2}`))).toEqual([cut, '{"next":1}', '{"after":"y"}', '{"line":2}']);
  });

  it('loses the next record with a record cut right after a colon or inside an array, and no more', () => {
    expect(texts(read('{"a":{"next":1}{"after":"y"}'))).toEqual(['{"a":{"next":1}', '{"after":"y"}']);
    expect(texts(read('{"a":[1,{"next":1}{"after":"y"}'))).toEqual(['{"a":[1,{"next":1}', '{"after":"y"}']);
  });

  it('resyncs on a next record written with spaces after a record cut inside a string', () => {
    expect(texts(read('{"a":"tru{ "next" : 1 }  {"b":2}'))).toEqual(['{"a":"tru', '{ "next" : 1 }', '{"b":2}']);
  });

  it('keeps every record after a record cut at any byte but right after a colon (property)', () => {
    fc.assert(
      fc.property(flatObject, flatObject, flatObject, fc.nat(), (a, b, c, cutSeed) => {
        const bytes = Buffer.from(JSON.stringify(a));
        const cut = bytes.subarray(0, 1 + (cutSeed % (bytes.length - 1)));
        fc.pre(cut[cut.length - 1] !== 0x3a);
        const records = read(Buffer.concat([cut, Buffer.from(JSON.stringify(b) + JSON.stringify(c))]));
        // Trailing JSON whitespace of a record is not part of it, even when the record is cut.
        expect(records[0]!.bytes.toString('latin1')).toBe(cut.toString('latin1').replace(/[ \t\r]+$/, ''));
        expect(texts(records.slice(1))).toEqual([JSON.stringify(b), JSON.stringify(c)]);
      }),
    );
  });

  it('returns exactly the objects of any concatenation of valid records, separated by newlines or nothing (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(anyObject, fc.constantFrom('\n', '')), { maxLength: 12 }), fc.boolean(), (items, gzip) => {
        const body = Buffer.from(items.map(([value, separator]) => `${JSON.stringify(value)}${separator}`).join(''));
        const records = read(gzip ? gzipSync(body) : body);
        expect(texts(records)).toEqual(items.map(([value]) => JSON.stringify(value)));
        expect(records.map((record) => parseRecordText(record.text!))).toEqual(items.map(([value]) => JSON.parse(JSON.stringify(value))));
      }),
    );
  });

  it('reports bytes that are not UTF-8 as invalid_encoding without touching the neighbours', () => {
    const body = Buffer.concat([Buffer.from('{"a":1}\n{"b":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}{"c":"é"}\n{"d":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]);
    const records = read(body);
    expect(records.map((record) => record.error ?? record.text)).toEqual(['{"a":1}', 'invalid_encoding', '{"c":"é"}', 'invalid_encoding']);
    expect(records[1]!.bytes).toEqual(Buffer.concat([Buffer.from('{"b":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]));
  });

  it('reports records over the size limit as too_large without decoding them', () => {
    const big = JSON.stringify({ pad: 'x'.repeat(1024 * 1024) });
    const records = read(`{"a":1}\n${big}{"b":2}`);
    expect(records.map((record) => record.error ?? record.text)).toEqual(['{"a":1}', 'too_large', '{"b":2}']);
    expect(records[1]!.bytes.length).toBe(big.length);
    expect(read('{"a":"12345"}{"b":1}', 10).map((record) => record.error ?? record.text)).toEqual(['too_large', '{"b":1}']);
  });

  it('reports bytes between records that cannot start one as their own record', () => {
    expect(texts(read('{"a":1} garbage {"b":2}\n123\n\ufeff{"c":3}'))).toEqual(['{"a":1}', 'garbage', '{"b":2}', '123', '{"c":3}']);
  });

  it('accounts for every non-blank byte of the object (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('{', '}', '[', ']', '"', '\\', ':', ',', '\n', ' ', 'a', '1') }), (body) => {
        const records = read(body);
        const kept = records.map((record) => record.text).join('');
        expect(kept.replace(/\s/g, '')).toBe(body.replace(/\s/g, ''));
        expect(records.every((record) => record.text!.trim() === record.text && record.text !== '')).toBe(true);
      }),
    );
  });
});

describe('parseRecordText', () => {
  it('returns the object of a JSON object record', () => {
    expect(parseRecordText('{"a":{"b":[1]}}')).toEqual({ a: { b: [1] } });
  });

  it.each(['{"a":', 'garbage', '[1,2]', '"text"', '42', 'null', ''])('returns malformed_json for %p', (text) => {
    expect(parseRecordText(text)).toBe('malformed_json');
  });
});
