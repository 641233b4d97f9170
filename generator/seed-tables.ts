import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { OperationalTables, TableSession } from '../tasks/ports/operational-tables';
import { roundCents } from '../tasks/tables/items';
import { tableCall } from '../tasks/tables/table-errors';
import { writeItems } from '../tasks/tables/write-items';
import type { OrderRow } from './dimensions';
import type { Product } from './population';

/**
 * A new product's floor and ceiling, as fractions of its base price: a little wider than the
 * generator's own promotions and surges (up to 25 % either way), which is the range a model
 * trained on its history has seen.
 */
export const DEFAULT_FLOOR_OF_BASE = 0.7;
export const DEFAULT_CEILING_OF_BASE = 1.3;

const PARALLEL_UPDATES = 16;

export interface SeedReport {
  readonly products: number;
  readonly orders: number;
}

/**
 * Writes what the shop's systems would hold into the operational tables: the catalog and the orders
 * the generator made. Idempotent: orders are immutable facts, put whole; a product's descriptive
 * fields are set, while its price fields (current price, floor, ceiling, version) are set only for a
 * product the table does not have yet, so a re-seed never undoes what the pricing consumer changed.
 * A new product starts at its base price, with the default floor and ceiling.
 */
export async function seedOperationalTables(tables: OperationalTables, products: readonly Product[], orders: readonly OrderRow[]): Promise<SeedReport> {
  const report = await tables.use(
    async (session) => {
      for (let start = 0; start < products.length; start += PARALLEL_UPDATES) {
        await Promise.all(products.slice(start, start + PARALLEL_UPDATES).map((product) => upsertProduct(session, product)));
      }
      await writeItems(session.doc, session.names.orders, orders);
      return { products: products.length, orders: orders.length };
    },
    { create: true },
  );
  return report ?? { products: 0, orders: 0 };
}

async function upsertProduct(session: TableSession, product: Product): Promise<void> {
  await tableCall(`seeding product ${product.productId}`, () =>
    session.doc.send(
      new UpdateCommand({
        TableName: session.names.products,
        Key: { product_id: product.productId },
        UpdateExpression:
          'SET #name = :name, category = :category, base_price = :base, cost = :cost, inventory = :inventory, ' +
          'current_price = if_not_exists(current_price, :base), floor_price = if_not_exists(floor_price, :floor), ' +
          'ceiling_price = if_not_exists(ceiling_price, :ceiling), price_version = if_not_exists(price_version, :zero)',
        ExpressionAttributeNames: { '#name': 'name' },
        ExpressionAttributeValues: {
          ':name': product.name,
          ':category': product.category,
          ':base': product.basePrice,
          ':cost': product.cost,
          ':inventory': product.inventory,
          ':floor': roundCents(product.basePrice * DEFAULT_FLOOR_OF_BASE),
          ':ceiling': roundCents(product.basePrice * DEFAULT_CEILING_OF_BASE),
          ':zero': 0,
        },
      }),
    ),
  );
}
