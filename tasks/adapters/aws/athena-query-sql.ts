/**
 * The SQL the Athena aggregate engine sends: each query of queries/ in Athena's (Trino's) dialect, and
 * the UNLOAD that writes its Parquet. Text only, so that every rewrite can be checked on every query
 * file here, where no Trino engine runs.
 */
import { parametersOf, QUERY_PARAMETERS, querySql, statementOf, type QueryParameter, type QueryParameterValues } from '../../aggregate/queries';
import { InvalidInputError } from '../../ports/errors';
import { sqlString } from '../../shared/sql-text';
import { bindLakeRelations } from './lake-relations-sql';

/**
 * The query `name` as Athena runs it: `querySql(name, 'athena')` rewritten by ATHENA_REWRITES, each
 * `$name` replaced by a literal formatted here (never caller text: ExecutionParameters cannot reach
 * into UNLOAD either), and `events` and `users` bound to the tables of the Glue `database`, `events`
 * to the partitions of the hours that `reads` (the event times the query reads) overlaps.
 */
export function athenaQuerySql(name: string, parameters: QueryParameterValues, database: string, reads: { readonly start: Date; readonly end: Date }): string {
  checkGlueDatabase(database);
  return withRelations(withLiterals(athenaDialect(statementOf(querySql(name, 'athena')), name), name, parameters), name, database, reads);
}

/**
 * `UNLOAD` of `select` as Parquet to the prefix `to` (an `s3://` URL ending with `/`, which must hold
 * no object: UNLOAD refuses to write to a location that is not empty). The select stays unquoted in
 * parentheses, on lines of its own so that a trailing comment cannot swallow the parenthesis.
 */
export function athenaUnloadStatement(select: string, to: string): string {
  if (!/^s3:\/\/[^/]+\/.*\/$/.test(to)) throw new InvalidInputError(`UNLOAD location "${to}": expected an s3:// prefix ending with /`);
  return `UNLOAD (\n${select}\n)\nTO ${sqlString(to)}\nWITH (format = 'PARQUET')`;
}

/** Throws InvalidInputError unless `name` can be the Glue database: lowercase letters, digits and underscores, as Athena requires. */
export function checkGlueDatabase(name: string): void {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) {
    throw new InvalidInputError(`invalid Glue database "${name}": expected a lowercase name of letters, digits and underscores`);
  }
}

/** One row of the rewrite table from the portable SQL of queries/ (DuckDB, PostgreSQL, Redshift) to Trino's. */
export interface AthenaRewrite {
  readonly name: string;
  /** What Trino does differently, which is why the rewrite exists. */
  readonly why: string;
  /**
   * Rewrites `code`, in which every comment, string literal and quoted identifier is a placeholder
   * (`\u0001<n>\u0002`, the original text being `literals[n]`), so that no rule reaches into them.
   */
  readonly rewrite: (code: string, literals: readonly string[], query: string) => string;
}

/** The rewrites, in the order they apply. Each is used by at least one query (a test checks it). */
export const ATHENA_REWRITES: readonly AthenaRewrite[] = [
  {
    name: 'interval-literal',
    why: "Trino takes the unit outside the string, INTERVAL '30' MINUTE; '30 minutes' in the string does not parse",
    rewrite: (code, literals, query) =>
      code.replace(/\binterval\s+\u0001(\d+)\u0002(\s+(?:second|minute|hour|day)\b)?/gi, (match, index: string, unit: string | undefined) => {
        if (unit !== undefined) return match; // already INTERVAL '<n>' <unit>
        const literal = literals[Number(index)]!;
        const parts = /^'\s*(\d+)\s+(second|minute|hour|day)s?\s*'$/i.exec(literal);
        if (!parts) throw new Error(`aggregate query ${query}: interval ${literal} has no Athena form here; expected '<whole number> second|minute|hour|day[s]'`);
        return `INTERVAL '${parts[1]}' ${parts[2]!.toUpperCase()}`;
      }),
  },
  {
    name: 'decimal-literal-as-double',
    why:
      'Trino types 24.0 as DECIMAL(3, 1) and divides DECIMALs at the larger operand scale, rounding: `total / 24.0` keeps one decimal ' +
      'and `floor(x / 2.0)` floors an already rounded quotient. DuckDB divides such operands as DOUBLE (PostgreSQL in numeric to 16 ' +
      'and more digits), and the queries round the quotient themselves; 24.0E0 is a DOUBLE in Trino as in DuckDB',
    rewrite: (code) => code.replace(/(?<![\w.])(\d+\.\d+)(?![\w.])/g, '$1E0'),
  },
  {
    name: 'extract-epoch',
    why:
      'Trino has no EXTRACT(EPOCH ...); to_milliseconds gives a day-to-second interval (the difference of two timestamps) in whole ' +
      'milliseconds, the precision of Trino intervals, and / 1E3 makes it DOUBLE seconds, as DuckDB returns them',
    rewrite: (code, _literals, query) => {
      const opening = /\bextract\s*\(\s*epoch\s+from\s+/i;
      let done = '';
      let rest = code;
      for (let match = opening.exec(rest); match; match = opening.exec(rest)) {
        const from = match.index + match[0].length;
        const close = closingParenthesis(rest, from, query);
        done += `${rest.slice(0, match.index)}(to_milliseconds(${rest.slice(from, close).trim()}) / 1E3)`;
        rest = rest.slice(close + 1);
      }
      return done + rest;
    },
  },
];

/**
 * What the portable SQL might use that Trino does not take and no rewrite covers: a query using one
 * needs a `queries/<name>.athena.sql`. Checked on the code after the rewrites.
 */
const UNSUPPORTED: readonly { readonly pattern: RegExp; readonly what: string }[] = [
  { pattern: /::/, what: 'a `::` cast (Trino has only cast(x as type))' },
  { pattern: /\bdatediff\s*\(/i, what: 'datediff() (Trino has date_diff(unit, from, to))' },
  { pattern: /\bdate_part\s*\(/i, what: 'date_part() (Trino has extract(field from x))' },
  { pattern: /\bstrftime\s*\(/i, what: 'strftime() (Trino has date_format())' },
  { pattern: /\bepoch(?:_ms|_us|_ns)?\s*\(/i, what: 'epoch() (Trino has to_unixtime())' },
  { pattern: /\bextract\s*\(\s*epoch\b/i, what: 'extract(epoch ...) in a form the rewrite does not take' },
  { pattern: /\bqualify\b/i, what: 'QUALIFY (DuckDB only)' },
  { pattern: /\bilike\b/i, what: 'ILIKE (not in Trino)' },
  { pattern: /\/\//, what: '`//` integer division (DuckDB only)' },
  { pattern: /\bgroup\s+by\s+all\b/i, what: 'GROUP BY ALL (in Trino ALL is a set quantifier)' },
  { pattern: /\binterval\s+(?!\u0001\d+\u0002\s+(?:second|minute|hour|day)\b)/i, what: "an interval not of the form INTERVAL '<n>' <unit>" },
  { pattern: /(?<![\w.])(?:\d*\.\d+|\d+\.)(?![\w.])/, what: 'a decimal literal the rewrite does not take' },
];

/**
 * `sql` (one query of queries/) in Athena's dialect: ATHENA_REWRITES applied in order, each to the
 * code only; throws when something of UNSUPPORTED remains.
 */
export function athenaDialect(sql: string, name: string): string {
  let rewritten = sql;
  for (const rule of ATHENA_REWRITES) rewritten = applyAthenaRewrite(rewritten, rule, name);
  const { code } = maskLiterals(rewritten);
  for (const { pattern, what } of UNSUPPORTED) {
    const found = pattern.exec(code);
    if (found) throw new Error(`aggregate query ${name} uses ${what} at "${code.slice(found.index, found.index + 30)}": Athena (Trino) does not take it and no rewrite covers it; add queries/${name}.athena.sql`);
  }
  return rewritten;
}

/** `sql` (of the query `name`) rewritten by `rule` alone. */
export function applyAthenaRewrite(sql: string, rule: AthenaRewrite, name: string): string {
  return onCode(sql, (code, literals) => rule.rewrite(code, literals, name));
}

/** Applies `rewrite` to the code of `sql`, comments, string literals and quoted identifiers left as they are. */
function onCode(sql: string, rewrite: (code: string, literals: readonly string[]) => string): string {
  const { code, literals } = maskLiterals(sql);
  return rewrite(code, literals).replace(/\u0001(\d+)\u0002/g, (_match, index: string) => literals[Number(index)]!);
}

/** `sql` with every comment, string literal and quoted identifier replaced by `\u0001<n>\u0002`, the original being `literals[n]`. */
function maskLiterals(sql: string): { code: string; literals: string[] } {
  const literals: string[] = [];
  const code = sql.replace(/--[^\n]*|\/\*[\s\S]*?\*\/|'(?:[^']|'')*'|"(?:[^"]|"")*"/g, (text) => `\u0001${literals.push(text) - 1}\u0002`);
  return { code, literals };
}

/** The index of the parenthesis that closes the one open before `from` in `code`. */
function closingParenthesis(code: string, from: number, query: string): number {
  let depth = 1;
  for (let index = from; index < code.length; index++) {
    if (code[index] === '(') depth += 1;
    else if (code[index] === ')' && --depth === 0) return index;
  }
  throw new Error(`aggregate query ${query}: unbalanced parentheses after "${code.slice(Math.max(0, from - 20), from)}"`);
}

function withLiterals(sql: string, name: string, values: QueryParameterValues): string {
  parametersOf(sql, name);
  return onCode(sql, (code) =>
    code.replace(/\$([a-z_][a-z0-9_]*)/gi, (match, parameter: string) => {
      if (!(QUERY_PARAMETERS as readonly string[]).includes(parameter)) return match; // parametersOf has refused it
      return literalOf(values[parameter as QueryParameter], parameter);
    }),
  );
}

/**
 * A TIMESTAMP literal to the second (periods are whole hours), or a number: a whole one as it is, any
 * other in exponent form, a DOUBLE in Trino (a plain 2.5 would be a DECIMAL; see ATHENA_REWRITES).
 */
function literalOf(value: Date | number, parameter: string): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidInputError(`$${parameter} is ${value}: expected a finite number`);
    const text = Number.isSafeInteger(value) ? String(value) : value.toExponential();
    // In parentheses when negative, so that `- $x` cannot become the comment `--1`.
    return value < 0 ? `(${text})` : text;
  }
  if (Number.isNaN(value.getTime())) throw new InvalidInputError(`$${parameter} is an invalid Date: expected a timestamp`);
  return `TIMESTAMP '${value.toISOString().slice(0, 19).replace('T', ' ')}'`;
}

/** `events` and `users` over the tables of the Glue database, as the Redshift form binds them. */
function withRelations(sql: string, name: string, database: string, reads: { readonly start: Date; readonly end: Date }): string {
  return bindLakeRelations(sql, name, { events: `"${database}"."events"`, users: `"${database}"."users"` }, reads);
}

