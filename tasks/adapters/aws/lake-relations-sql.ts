import { formatHour, HOUR_IN_MS } from '../../shared/hours';

/**
 * Binds `events` and `users` in an aggregate query by import CTEs placed first in its WITH clause,
 * over the tables the warehouse reads (`events` and `users`, qualified in full, so that the CTE
 * `events` cannot be taken for the table), with `events` restricted to the partitions of the hours
 * `reads` overlaps. The query text stays as written, the same for every engine.
 */
export function bindLakeRelations(sql: string, name: string, tables: { readonly events: string; readonly users: string }, reads: { readonly start: Date; readonly end: Date }): string {
  const opening = /^(?:\s*--[^\n]*\n)*\s*with\s/i.exec(sql);
  if (!opening) throw new Error(`aggregate query ${name} does not open with a WITH clause (after its header comments), so its relations cannot be bound`);
  const relations = [
    `events as (select * from ${tables.events} where ${partitionFilter(reads)})`,
    // One row per user whatever the dimension file repeats, as the local engine's users view has it.
    `users as (select user_id, max(segment) as segment from ${tables.users} group by user_id)`,
  ];
  return `${opening[0]}${relations.join(',\n')},\n${sql.slice(opening[0].length)}`;
}

/**
 * The `dt`/`hr` partitions (strings in Glue) of the hours that [start, end) overlaps, as a predicate
 * on the partition columns alone: Spectrum and Athena then list only those partitions instead of
 * scanning the table. The query's own `event_time` filter still says which rows count.
 */
function partitionFilter({ start, end }: { readonly start: Date; readonly end: Date }): string {
  const first = formatHour(start.getTime() - (start.getTime() % HOUR_IN_MS));
  const last = formatHour(Math.ceil(end.getTime() / HOUR_IN_MS) * HOUR_IN_MS - HOUR_IN_MS);
  const [firstDay, firstHour, lastDay, lastHour] = [first.slice(0, 10), first.slice(11, 13), last.slice(0, 10), last.slice(11, 13)];
  return `dt >= '${firstDay}' and dt <= '${lastDay}' and (dt > '${firstDay}' or hr >= '${firstHour}') and (dt < '${lastDay}' or hr <= '${lastHour}')`;
}
