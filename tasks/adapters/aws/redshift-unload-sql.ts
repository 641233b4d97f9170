/**
 * The SQL the Redshift aggregate engine sends: each query of queries/ in its Redshift form, wrapped in
 * UNLOAD. Text only, so that the PostgreSQL cross-check (test/queries/postgres.test.ts) runs the very
 * query text AWS runs.
 */
import { parametersOf, QUERY_PARAMETERS, querySql, statementOf, type QueryParameter, type QueryParameterValues } from '../../aggregate/queries';
import { InvalidInputError } from '../../ports/errors';
import { bindLakeRelations } from './lake-relations-sql';

/**
 * The query `name` as Redshift runs it: `querySql(name, 'redshift')`, each `$name` replaced by a
 * literal formatted here (never caller text), and `events` and `users` bound to the tables of
 * `externalSchema`, `events` to the partitions of the hours that `reads` (the event times the query
 * reads) overlaps. Data API parameters cannot reach into UNLOAD's quoted select, hence literals.
 */
export function redshiftQuerySql(name: string, parameters: QueryParameterValues, externalSchema: string, reads: { readonly start: Date; readonly end: Date }): string {
  return withExternalRelations(withLiterals(statementOf(querySql(name, 'redshift')), name, parameters), name, externalSchema, reads);
}

/** Throws InvalidInputError unless `name` can be the external schema: what Glue allows in a database name, lowercase. */
export function checkExternalSchema(name: string): void {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) {
    throw new InvalidInputError(`invalid external schema "${name}": expected a lowercase name of letters, digits and underscores`);
  }
}

/**
 * `UNLOAD` of `select` to the prefix `to` (an `s3://` URL) with `iamRole`: CSV as the local engine
 * writes it (`|`, a header), or Parquet. PARALLEL OFF makes one file, `<prefix>000` (and `001`, ...
 * only past 6.2 GB). ALLOWOVERWRITE, since UNLOAD otherwise fails on a file at the prefix, as an
 * earlier attempt of the same execution may have left one.
 */
export function unloadStatement(select: string, to: string, iamRole: string, format: 'csv' | 'parquet'): string {
  return [
    `UNLOAD (${redshiftString(select)})`,
    `TO ${redshiftString(to)}`,
    `IAM_ROLE ${redshiftString(iamRole)}`,
    format === 'csv' ? "CSV DELIMITER AS '|' HEADER ALLOWOVERWRITE PARALLEL OFF" : 'FORMAT AS PARQUET ALLOWOVERWRITE PARALLEL OFF',
  ].join('\n');
}

/**
 * A Redshift string literal. Quotes are doubled, as UNLOAD's reference asks of its select string;
 * backslashes too, as Redshift's QUOTE_LITERAL does, since Redshift reads `\` in a literal as an escape.
 */
function redshiftString(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

function withLiterals(sql: string, name: string, values: QueryParameterValues): string {
  parametersOf(sql, name);
  return sql.replace(/\$([a-z_][a-z0-9_]*)/gi, (match, parameter: string) => {
    if (!(QUERY_PARAMETERS as readonly string[]).includes(parameter)) return match; // only in comments: parametersOf checked the code
    return literalOf(values[parameter as QueryParameter], parameter);
  });
}

/** A TIMESTAMP to the second (periods are whole hours), or a number. */
function literalOf(value: Date | number, parameter: string): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidInputError(`$${parameter} is ${value}: expected a finite number`);
    // In parentheses when negative, so that `- $x` cannot become the comment `--1`.
    return value < 0 ? `(${value})` : String(value);
  }
  if (Number.isNaN(value.getTime())) throw new InvalidInputError(`$${parameter} is an invalid Date: expected a timestamp`);
  return `CAST('${value.toISOString().slice(0, 19).replace('T', ' ')}' AS TIMESTAMP)`;
}

/**
 * `events` and `users` over the tables of the external schema. Redshift cannot find external tables
 * through search_path ("Search paths aren't supported with external schemas and external tables.
 * External tables must be explicitly qualified by an external schema": the search_path reference).
 */
function withExternalRelations(sql: string, name: string, externalSchema: string, reads: { readonly start: Date; readonly end: Date }): string {
  checkExternalSchema(externalSchema);
  const schema = `"${externalSchema}"`;
  return bindLakeRelations(sql, name, { events: `${schema}.events`, users: `${schema}.users` }, reads);
}
