import fc from 'fast-check';
import { diffColumns, listFields, mergeColumns, SchemaInference } from '../../../tasks/crawl/schema-inference';
import type { Column } from '../../../tasks/ports/catalog';

function infer(records: readonly Record<string, unknown>[]): Column[] {
  const inference = new SchemaInference();
  for (const record of records) inference.observe(record);
  return inference.columns();
}

function typeOf(columns: readonly Column[], name: string): string | undefined {
  return columns.find((column) => column.name === name)?.type;
}

describe('SchemaInference', () => {
  it('types scalars, nested objects and arrays with Glue type names, columns by name', () => {
    const columns = infer([{ s: 'x', i: 1, d: 1.5, b: true, o: { z: 1, a: 'x' }, l: [1, 2], lo: [{ k: 'v' }] }]);
    expect(columns).toEqual([
      { name: 'b', type: 'boolean' },
      { name: 'd', type: 'double' },
      { name: 'i', type: 'bigint' },
      { name: 'l', type: 'array<bigint>' },
      { name: 'lo', type: 'array<struct<k:string>>' },
      { name: 'o', type: 'struct<a:string,z:bigint>' },
      { name: 's', type: 'string' },
    ]);
  });

  it('widens integers mixed with doubles to double, and any other mix to string', () => {
    const columns = infer([
      { n: 1, m: 1, o: { a: 1 }, l: [1] },
      { n: 2.5, m: 'one', o: 'text', l: [1.5, 'x'] },
    ]);
    expect(typeOf(columns, 'n')).toBe('double');
    expect(typeOf(columns, 'm')).toBe('string');
    expect(typeOf(columns, 'o')).toBe('string');
    expect(typeOf(columns, 'l')).toBe('array<string>');
  });

  it('leaves out fields seen only as null, [] or {} until a value shows their type', () => {
    expect(infer([{ a: null, b: [], c: {}, d: { e: null }, f: 1 }])).toEqual([{ name: 'f', type: 'bigint' }]);
    expect(infer([{ b: [] }, { b: ['x'] }])).toEqual([{ name: 'b', type: 'array<string>' }]);
  });

  it('counts the values seen at a path', () => {
    const inference = new SchemaInference();
    inference.observe({ a: { b: 1 }, l: [{ k: 1 }, { k: 2 }] });
    inference.observe({ a: { b: null, c: 2 } });
    expect(inference.valuesAt(['a'])).toBe(2);
    expect(inference.valuesAt(['a', 'b'])).toBe(1);
    expect(inference.valuesAt(['l', '[]', 'k'])).toBe(2);
    expect(inference.valuesAt(['missing'])).toBe(0);
  });

  it('gives the same columns whichever order and grouping records are seen in (property)', () => {
    const value = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constantFrom<unknown>(null, true, 1, -7, 2.5, 'x'),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(fc.constantFrom('a', 'b', 'c'), tie('value'), { maxKeys: 3 }),
      ),
    })).value;
    const record = fc.dictionary(fc.constantFrom('p', 'q', 'r', 's'), value, { maxKeys: 4 });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 8 }), fc.nat(), (records, split) => {
        const cut = records.length === 0 ? 0 : split % records.length;
        const all = infer(records);
        expect(infer([...records].reverse())).toEqual(all);
        const [first, second] = [infer(records.slice(0, cut)), infer(records.slice(cut))];
        expect(mergeColumns(first, second)).toEqual(all);
        expect(mergeColumns(second, first)).toEqual(all);
      }),
    );
  });
});

describe('mergeColumns', () => {
  it('keeps types it does not look into, and widens two different ones to string', () => {
    const table = [
      { name: 't', type: 'timestamp' },
      { name: 'd', type: 'decimal(10,2)' },
      { name: 'm', type: 'map<string,bigint>' },
    ];
    expect(mergeColumns(table, [{ name: 'd', type: 'decimal(10,2)' }])).toEqual([table[1], table[2], table[0]]);
    expect(mergeColumns(table, [{ name: 't', type: 'bigint' }])).toContainEqual({ name: 't', type: 'string' });
  });

  it('reads back struct field names it had to quote', () => {
    const columns = infer([{ o: { 'a b': 1, 'x`y': 'v', 'k:v': true } }]);
    expect(columns).toEqual([{ name: 'o', type: 'struct<`a b`:bigint,`k:v`:boolean,`x``y`:string>' }]);
    expect(mergeColumns(columns, columns)).toEqual(columns);
    expect(listFields(columns).map((line) => line.field)).toEqual(['o', 'a b', 'k:v', 'x`y']);
  });
});

describe('diffColumns', () => {
  it('reports new fields at any depth, a new struct once, and type changes with from and to', () => {
    const before = infer([{ a: { b: 1 }, l: [{ k: 1 }], n: 1 }]);
    const after = mergeColumns(before, infer([{ a: { b: 1.5, c: 'x' }, l: [{ k: 1, j: true }], n: 'one', s: { t: 1 } }]));
    expect(diffColumns(before, after).map(({ path, ...change }) => change)).toEqual([
      { field: 'a.b', change: 'type_changed', from: 'bigint', to: 'double' },
      { field: 'a.c', change: 'added', to: 'string' },
      { field: 'l[].j', change: 'added', to: 'boolean' },
      { field: 'n', change: 'type_changed', from: 'bigint', to: 'string' },
      { field: 's', change: 'added', to: 'struct<t:bigint>' },
    ]);
    expect(diffColumns(after, after)).toEqual([]);
  });
});
