/**
 * Reads a CSV as UNLOAD ... CSV DELIMITER AS '|' HEADER writes it (queries/README.md): `|` between
 * fields, a header row, NULL as an empty field, an empty string as `""`, and fields holding `|`, `"`
 * or a line break quoted with `"` (a quote inside doubled).
 */
export function parseUnloadedCsv(text: string): { header: string[]; rows: (string | null)[][] } {
  const records: (string | null)[][] = [];
  let record: (string | null)[] = [];
  let field = '';
  let quoted = false;
  let wasQuoted = false;
  let i = 0;
  const endField = () => {
    record.push(field === '' && !wasQuoted ? null : field);
    field = '';
    wasQuoted = false;
  };
  while (i < text.length) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        field += char;
      }
      i += 1;
      continue;
    }
    if (char === '"') {
      quoted = true;
      wasQuoted = true;
    } else if (char === '|') {
      endField();
    } else if (char === '\n' || char === '\r') {
      endField();
      records.push(record);
      record = [];
      if (char === '\r' && text[i + 1] === '\n') i += 1;
    } else {
      field += char;
    }
    i += 1;
  }
  if (field !== '' || wasQuoted || record.length > 0) {
    endField();
    records.push(record);
  }
  const [header = [], ...rows] = records;
  return { header: header.map((name) => name ?? ''), rows };
}

/** The rows of an unloaded CSV as objects keyed by its header. */
export function unloadedCsvObjects(text: string): Record<string, string | null>[] {
  const { header, rows } = parseUnloadedCsv(text);
  return rows.map((row) => Object.fromEntries(header.map((name, index) => [name, row[index] ?? null])));
}
