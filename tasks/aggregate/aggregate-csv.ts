/**
 * One field of an aggregate's CSV as every engine writes it (`UNLOAD ... CSV DELIMITER AS '|'`): NULL
 * as nothing, an empty string as `""`, and a field holding `|`, `"` or a line break quoted.
 */
export function csvField(value: string | null): string {
  if (value === null) return '';
  if (value === '' || /[|"\r\n]/.test(value)) return `"${value.replaceAll('"', '""')}"`;
  return value;
}

/** One line of an aggregate's CSV: its fields, `|` between them, and a line break. */
export function csvLine(fields: readonly (string | null)[]): string {
  return `${fields.map(csvField).join('|')}\n`;
}
