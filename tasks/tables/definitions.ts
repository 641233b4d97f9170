import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * The operational tables of the pricing branch, in one place: the local runtime creates them from
 * these definitions, and the CDK stack is meant to build its `dynamodb.Table`s from the same ones.
 */

export interface KeyAttribute {
  readonly name: string;
  /** DynamoDB's scalar key types: `S` string, `N` number. */
  readonly type: 'S' | 'N';
}

/** A global secondary index; every index projects all attributes. */
export interface IndexDefinition {
  readonly name: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
}

export interface TableDefinition {
  /** The table's name when no prefix is configured. */
  readonly name: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  /** @default none */
  readonly indexes?: readonly IndexDefinition[];
  /** The change stream, when the table has one. @default none */
  readonly stream?: 'NEW_AND_OLD_IMAGES';
}

/** The catalog: one item per product, with its current price and the guardrails' floor and ceiling. */
export const PRODUCTS_TABLE: TableDefinition = {
  name: 'products',
  partitionKey: { name: 'product_id', type: 'N' },
};

/** The name of the orders index by product and time: (product_id, ordered_at ISO 8601). */
export const ORDERS_BY_PRODUCT_INDEX = 'by_product_time';

/** What the order system recorded, one item per order. */
export const ORDERS_TABLE: TableDefinition = {
  name: 'orders',
  partitionKey: { name: 'order_id', type: 'S' },
  indexes: [{ name: ORDERS_BY_PRODUCT_INDEX, partitionKey: { name: 'product_id', type: 'N' }, sortKey: { name: 'ordered_at', type: 'S' } }],
};

/** One hydrated demand record per product and event hour (`YYYY-MM-DDTHH`); its stream feeds the pricing consumer. */
export const PRICE_SIGNALS_TABLE: TableDefinition = {
  name: 'price_signals',
  partitionKey: { name: 'product_id', type: 'N' },
  sortKey: { name: 'event_hour', type: 'S' },
  stream: 'NEW_AND_OLD_IMAGES',
};

/** The audit: one item per signal the consumer decided on, keyed by the signal, so a signal is decided once. */
export const PRICE_HISTORY_TABLE: TableDefinition = {
  name: 'price_history',
  partitionKey: { name: 'product_id', type: 'N' },
  sortKey: { name: 'signal_id', type: 'S' },
};

export const OPERATIONAL_TABLES = {
  products: PRODUCTS_TABLE,
  orders: ORDERS_TABLE,
  priceSignals: PRICE_SIGNALS_TABLE,
  priceHistory: PRICE_HISTORY_TABLE,
} as const;

export type TableRole = keyof typeof OPERATIONAL_TABLES;

/** The deployed name of each table. */
export type TableNames = Readonly<Record<TableRole, string>>;

/** Each table's name behind `prefix` (e.g. `lakehouse-`); the local runtime uses no prefix. */
export function tableNames(prefix = ''): TableNames {
  const names = {} as Record<TableRole, string>;
  for (const role of Object.keys(OPERATIONAL_TABLES) as TableRole[]) names[role] = `${prefix}${OPERATIONAL_TABLES[role].name}`;
  return names;
}

/** The CreateTable request of a definition (on-demand capacity). */
export function createTableInput(definition: TableDefinition, tableName: string = definition.name): CreateTableCommandInput {
  const keySchema = (partitionKey: KeyAttribute, sortKey: KeyAttribute | undefined) => [
    { AttributeName: partitionKey.name, KeyType: 'HASH' as const },
    ...(sortKey === undefined ? [] : [{ AttributeName: sortKey.name, KeyType: 'RANGE' as const }]),
  ];
  const attributes = new Map<string, KeyAttribute['type']>();
  for (const key of [definition.partitionKey, definition.sortKey, ...(definition.indexes ?? []).flatMap((index) => [index.partitionKey, index.sortKey])]) {
    if (key !== undefined) attributes.set(key.name, key.type);
  }
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })),
    KeySchema: keySchema(definition.partitionKey, definition.sortKey),
    ...(definition.indexes === undefined
      ? {}
      : {
          GlobalSecondaryIndexes: definition.indexes.map((index) => ({
            IndexName: index.name,
            KeySchema: keySchema(index.partitionKey, index.sortKey),
            Projection: { ProjectionType: 'ALL' as const },
          })),
        }),
    ...(definition.stream === undefined ? {} : { StreamSpecification: { StreamEnabled: true, StreamViewType: definition.stream } }),
  };
}
