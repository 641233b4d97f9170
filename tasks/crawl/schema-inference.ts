import type { Column } from '../ports/catalog';

/**
 * Schema inference for JSON records, in Glue/Hive type names: `string`, `bigint`, `double`,
 * `boolean`, `struct<name:type,...>`, `array<type>`.
 *
 * Types form a lattice so that the result does not depend on the order records or hours are seen:
 * bigint and double widen to double; any other mix (a number and a string, an object and a string,
 * ...) widens to string, which can hold every value. A field seen only as null, `[]` or `{}` carries
 * no type and is left out until a value shows it. Fields are listed by name, so that hours crawled
 * in any order converge on the same columns.
 */

type TypeNode = UnknownType | PrimitiveType | StructType | ArrayType;

interface UnknownType {
  readonly kind: 'unknown';
}

/** A scalar, or a type this module does not look into (`timestamp`, `map<string,string>`, ...) kept by its name. */
interface PrimitiveType {
  readonly kind: 'primitive';
  readonly name: string;
}

interface StructType {
  readonly kind: 'struct';
  readonly fields: Map<string, FieldNode>;
}

interface ArrayType {
  readonly kind: 'array';
  element: TypeNode;
}

interface FieldNode {
  type: TypeNode;
  /** How many values of this field were seen (non-null); elements of arrays count one each. */
  records: number;
}

const UNKNOWN: UnknownType = { kind: 'unknown' };
const BIGINT: PrimitiveType = { kind: 'primitive', name: 'bigint' };
const DOUBLE: PrimitiveType = { kind: 'primitive', name: 'double' };
const BOOLEAN: PrimitiveType = { kind: 'primitive', name: 'boolean' };
const STRING: PrimitiveType = { kind: 'primitive', name: 'string' };

/** Integers beyond a signed 64-bit range cannot be a bigint. */
const MAX_BIGINT = 2 ** 63;

/** A path segment that stands for "every element of the array". */
export const ARRAY_ELEMENT = '[]';

/** Accumulates the schema of the records it observes. */
export class SchemaInference {
  private readonly root: StructType = { kind: 'struct', fields: new Map() };

  observe(record: Readonly<Record<string, unknown>>): void {
    observeFields(this.root, record);
  }

  /** The observed top-level fields as columns, by name, uninformative fields left out. */
  columns(): Column[] {
    return columnsOf(this.root);
  }

  /** How many values were seen at `path` (field names, and ARRAY_ELEMENT to step into an array). */
  valuesAt(path: readonly string[]): number {
    let type: TypeNode = this.root;
    let count = 0;
    for (const segment of path) {
      if (segment === ARRAY_ELEMENT) {
        if (type.kind !== 'array') return 0;
        type = type.element;
        continue;
      }
      const field: FieldNode | undefined = type.kind === 'struct' ? type.fields.get(segment) : undefined;
      if (!field) return 0;
      type = field.type;
      count = field.records;
    }
    return count;
  }
}

/** The union of two column lists; a field typed differently gets the wider type. */
export function mergeColumns(table: readonly Column[], hour: readonly Column[]): Column[] {
  return columnsOf(mergeStructs(structOf(table), structOf(hour)));
}

/** A difference between two column lists, with the path of the field that changed. */
export interface SchemaChange {
  readonly path: readonly string[];
  /** The path in dotted form, array elements as `[]`: `additional_data.discount`, `items[].sku`. */
  readonly field: string;
  readonly change: 'added' | 'type_changed';
  readonly from?: string;
  readonly to: string;
}

/**
 * What changed from `before` to `after`, field by field: nested struct fields (also inside arrays)
 * are compared one by one; a new struct is reported once, not field by field.
 */
export function diffColumns(before: readonly Column[], after: readonly Column[]): SchemaChange[] {
  const changes: SchemaChange[] = [];
  diffStructs(structOf(before), structOf(after), [], changes);
  return changes;
}

/** One line of a column listing: nested struct fields follow their parent, one level deeper. */
export interface FieldLine {
  readonly field: string;
  readonly depth: number;
  /** The field's type; a struct (or array of structs) is shown as `struct` (`array<struct>`), its fields on the lines below. */
  readonly type: string;
}

/** Every field of `columns`, nested ones included, in the order a reader scans a schema. */
export function listFields(columns: readonly Column[]): FieldLine[] {
  const lines: FieldLine[] = [];
  const visit = (name: string, type: TypeNode, depth: number, text: string): void => {
    const nested = type.kind === 'struct' ? type : type.kind === 'array' && type.element.kind === 'struct' ? type.element : undefined;
    lines.push({ field: name, depth, type: nested === undefined ? text : nested === type ? 'struct' : 'array<struct>' });
    for (const [fieldName, field] of nested?.fields ?? []) visit(fieldName, field.type, depth + 1, renderType(field.type) ?? '');
  };
  for (const column of columns) visit(column.name, parseType(column.type), 0, column.type);
  return lines;
}

function observeFields(struct: StructType, record: Readonly<Record<string, unknown>>): void {
  for (const key in record) {
    const value = record[key];
    if (value === null || value === undefined) continue;
    let field = struct.fields.get(key);
    if (!field) {
      field = { type: UNKNOWN, records: 0 };
      struct.fields.set(key, field);
    }
    field.records += 1;
    field.type = observeValue(field.type, value);
  }
}

function observeValue(type: TypeNode, value: unknown): TypeNode {
  if (type === STRING) return STRING;
  switch (typeof value) {
    case 'string':
      return STRING;
    case 'boolean':
      return widen(type, BOOLEAN);
    case 'number':
      return widen(type, Number.isInteger(value) && Math.abs(value) < MAX_BIGINT ? BIGINT : DOUBLE);
    case 'object': {
      if (value === null) return type;
      if (Array.isArray(value)) {
        if (type.kind === 'array') {
          observeElements(type, value);
          return type;
        }
        const array: ArrayType = { kind: 'array', element: UNKNOWN };
        observeElements(array, value);
        return conflict(type, array);
      }
      if (type.kind === 'struct') {
        observeFields(type, value as Record<string, unknown>);
        return type;
      }
      const struct: StructType = { kind: 'struct', fields: new Map() };
      observeFields(struct, value as Record<string, unknown>);
      return conflict(type, struct);
    }
    default:
      return STRING;
  }
}

function observeElements(array: ArrayType, values: readonly unknown[]): void {
  for (const value of values) {
    if (value !== null && value !== undefined) array.element = observeValue(array.element, value);
  }
}

/** The least type that holds both a primitive-typed value and `type`. */
function widen(type: TypeNode, primitive: PrimitiveType): TypeNode {
  if (type.kind === 'primitive') return widenPrimitives(type, primitive);
  return conflict(type, primitive);
}

/**
 * Two types of different kinds: string, unless one of them carries no type yet (`{}`, `[]`, only
 * nulls), which must not count, or the result would depend on how records are grouped into hours.
 */
function conflict(type: TypeNode, other: TypeNode): TypeNode {
  if (renderType(other) === undefined) return type;
  if (renderType(type) === undefined) return other;
  return STRING;
}

function widenPrimitives(a: PrimitiveType, b: PrimitiveType): PrimitiveType {
  if (a.name === b.name) return a;
  if ((a.name === 'bigint' && b.name === 'double') || (a.name === 'double' && b.name === 'bigint')) return DOUBLE;
  return STRING;
}

function mergeTypes(a: TypeNode, b: TypeNode): TypeNode {
  if (a.kind === 'unknown') return b;
  if (b.kind === 'unknown') return a;
  if (a.kind === 'primitive' && b.kind === 'primitive') return widenPrimitives(a, b);
  if (a.kind === 'array' && b.kind === 'array') return { kind: 'array', element: mergeTypes(a.element, b.element) };
  if (a.kind === 'struct' && b.kind === 'struct') return mergeStructs(a, b);
  return STRING;
}

function mergeStructs(a: StructType, b: StructType): StructType {
  const fields = new Map<string, FieldNode>();
  for (const [name, field] of a.fields) fields.set(name, { ...field });
  for (const [name, field] of b.fields) {
    const existing = fields.get(name);
    fields.set(name, existing ? { type: mergeTypes(existing.type, field.type), records: existing.records + field.records } : { ...field });
  }
  return { kind: 'struct', fields };
}

function diffStructs(before: StructType, after: StructType, path: string[], into: SchemaChange[]): void {
  for (const [name, field] of [...after.fields].sort(byName)) {
    const to = renderType(field.type);
    if (to === undefined) continue;
    const old = before.fields.get(name)?.type;
    const fieldPath = [...path, name];
    const from = old && renderType(old);
    if (old === undefined || from === undefined) into.push({ path: fieldPath, field: dotted(fieldPath), change: 'added', to });
    else if (from !== to) diffTypes(old, field.type, from, to, fieldPath, into);
  }
}

function diffTypes(before: TypeNode, after: TypeNode, from: string, to: string, path: string[], into: SchemaChange[]): void {
  if (before.kind === 'struct' && after.kind === 'struct') diffStructs(before, after, path, into);
  else if (before.kind === 'array' && after.kind === 'array' && before.element.kind === 'struct' && after.element.kind === 'struct') {
    diffStructs(before.element, after.element, [...path, ARRAY_ELEMENT], into);
  } else into.push({ path, field: dotted(path), change: 'type_changed', from, to });
}

function dotted(path: readonly string[]): string {
  return path.reduce((name, segment) => (segment === ARRAY_ELEMENT ? `${name}[]` : name === '' ? segment : `${name}.${segment}`), '');
}

function byName(a: [string, unknown], b: [string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

function columnsOf(struct: StructType): Column[] {
  const columns: Column[] = [];
  for (const [name, field] of [...struct.fields].sort(byName)) {
    const type = renderType(field.type);
    if (type !== undefined) columns.push({ name, type });
  }
  return columns;
}

/** The Glue type name, or undefined for a type nothing was learnt about. */
function renderType(type: TypeNode): string | undefined {
  switch (type.kind) {
    case 'unknown':
      return undefined;
    case 'primitive':
      return type.name;
    case 'array': {
      const element = renderType(type.element);
      return element === undefined ? undefined : `array<${element}>`;
    }
    case 'struct': {
      const fields = columnsOf(type).map((column) => `${quoteName(column.name)}:${column.type}`);
      return fields.length === 0 ? undefined : `struct<${fields.join(',')}>`;
    }
  }
}

/** Hive quotes a struct field name with backticks when it is not a plain identifier. */
function quoteName(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : `\`${name.replaceAll('`', '``')}\``;
}

function structOf(columns: readonly Column[]): StructType {
  const fields = new Map<string, FieldNode>();
  for (const column of columns) fields.set(column.name, { type: parseType(column.type), records: 0 });
  return { kind: 'struct', fields };
}

/** Reads a Glue type name back into a type; what it cannot read is kept whole as an opaque type. */
function parseType(text: string): TypeNode {
  const parser = new TypeParser(text);
  try {
    const type = parser.type();
    if (parser.atEnd()) return type;
  } catch {
    // Written by another tool in a form this parser does not know: compare it by its text.
  }
  return { kind: 'primitive', name: text };
}

class TypeParser {
  private position = 0;

  constructor(private readonly text: string) {}

  atEnd(): boolean {
    return this.position === this.text.length;
  }

  type(): TypeNode {
    const start = this.position;
    while (this.position < this.text.length && /[A-Za-z0-9_]/.test(this.text[this.position]!)) this.position++;
    const name = this.text.slice(start, this.position);
    if (name === '') throw new Error(`type expected at ${start}`);
    const lower = name.toLowerCase();
    if (lower === 'struct' && this.peek() === '<') return this.struct();
    if (lower === 'array' && this.peek() === '<') {
      this.expect('<');
      const element = this.type();
      this.expect('>');
      return { kind: 'array', element };
    }
    // Parameters of an opaque type (`decimal(10,2)`, `map<string,bigint>`) stay part of its name.
    if (this.peek() === '<' || this.peek() === '(') this.skipBalanced();
    const full = this.text.slice(start, this.position);
    return full === 'bigint' ? BIGINT : full === 'double' ? DOUBLE : full === 'boolean' ? BOOLEAN : full === 'string' ? STRING : { kind: 'primitive', name: full };
  }

  private struct(): StructType {
    this.expect('<');
    const fields = new Map<string, FieldNode>();
    while (this.peek() !== '>') {
      const name = this.fieldName();
      this.expect(':');
      fields.set(name, { type: this.type(), records: 0 });
      if (this.peek() === ',') this.position++;
      else if (this.peek() !== '>') throw new Error(`, or > expected at ${this.position}`);
    }
    this.expect('>');
    return { kind: 'struct', fields };
  }

  private fieldName(): string {
    if (this.peek() === '`') {
      let name = '';
      this.position++;
      for (;;) {
        const next = this.text.indexOf('`', this.position);
        if (next < 0) throw new Error('unterminated quoted name');
        name += this.text.slice(this.position, next);
        this.position = next + 1;
        if (this.peek() !== '`') return name;
        name += '`';
        this.position++;
      }
    }
    const end = this.text.indexOf(':', this.position);
    if (end <= this.position) throw new Error(`field name expected at ${this.position}`);
    const name = this.text.slice(this.position, end);
    this.position = end;
    return name;
  }

  private skipBalanced(): void {
    let depth = 0;
    do {
      const char = this.text[this.position++];
      if (char === undefined) throw new Error('unbalanced type parameters');
      if (char === '<' || char === '(') depth++;
      else if (char === '>' || char === ')') depth--;
    } while (depth > 0);
  }

  private peek(): string | undefined {
    return this.text[this.position];
  }

  private expect(char: string): void {
    if (this.text[this.position] !== char) throw new Error(`${char} expected at ${this.position}`);
    this.position++;
  }
}
