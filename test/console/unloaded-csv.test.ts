import { parseUnloadedCsv, unloadedCsvObjects } from '../../console/unloaded-csv';

describe('parseUnloadedCsv', () => {
  it('reads UNLOAD\'s CSV: a | delimiter, a header, NULL as an empty field, quoted fields with | " and line breaks', () => {
    const text = 'hour|country|region|requests\n2021-07-12 05:00:00|US|"New ""York"" | NY"|3\n2021-07-12 05:00:00||""|1\r\n2021-07-12 05:00:00|GB|"two\nlines"|2\n';
    expect(parseUnloadedCsv(text)).toEqual({
      header: ['hour', 'country', 'region', 'requests'],
      rows: [
        ['2021-07-12 05:00:00', 'US', 'New "York" | NY', '3'],
        ['2021-07-12 05:00:00', null, '', '1'],
        ['2021-07-12 05:00:00', 'GB', 'two\nlines', '2'],
      ],
    });
  });

  it('reads a file without a final line break, and a header alone as no rows', () => {
    expect(unloadedCsvObjects('a|b\n1|2')).toEqual([{ a: '1', b: '2' }]);
    expect(unloadedCsvObjects('a|b\n')).toEqual([]);
    expect(unloadedCsvObjects('')).toEqual([]);
  });
});
