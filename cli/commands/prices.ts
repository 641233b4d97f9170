import type { Command } from 'commander';
import { openLocalRuntime } from '../../tasks/runtime/local-runtime';
import { DEAD_LETTERS_PREFIX } from '../../tasks/runtime/local-pricing';
import type { PriceHistoryItem, ProductItem } from '../../tasks/tables/items';
import { action, addLakeOption, existingLake, parsePositiveInteger } from '../command-helpers';
import { formatCount, renderTable } from '../render';
import { deliverPriceSignals } from '../summary';

interface PricesOptions {
  lake: string;
  limit: string;
  all?: boolean;
  deliver?: boolean;
}

export function registerPrices(program: Command): void {
  addLakeOption(
    program
      .command('prices')
      .description('show the catalog\'s current prices and the latest price adjustments with their reasons')
      .option('--limit <n>', 'show at most this many adjustments, newest first', '20')
      .option('--all', 'list every product, also those still at their base price')
      .option('--deliver', 'first deliver the price signals waiting in the stream to the price model'),
  ).action(
    action('prices', async (options: PricesOptions) => {
      const limit = parsePositiveInteger(options.limit, '--limit');
      const lake = await existingLake(options.lake);
      const runtime = openLocalRuntime(lake);
      if (options.deliver) process.stdout.write(`${await deliverPriceSignals(runtime.pricing)}\n\n`);
      const prices = await runtime.pricing.readPrices();
      if (prices === undefined || prices.products.length === 0) {
        process.stdout.write(`no product catalog in ${options.lake} yet ("lakehouse generate" seeds one)\n`);
        return;
      }
      process.stdout.write(`${renderProducts(prices.products, options.all ?? false)}\n\n${renderAdjustments(prices.history, limit)}\n`);
      const waiting = await runtime.pricing.stream.pendingCount();
      const deadLetters = (await runtime.pricing.deadLetters.list()).length;
      process.stdout.write(
        `\nstream: ${formatCount(waiting)} price signal(s) waiting${waiting > 0 ? ' (--deliver delivers them)' : ''}, ` +
          `${formatCount(deadLetters)} dead letter(s)${deadLetters > 0 ? ` under ${options.lake}/${DEAD_LETTERS_PREFIX}` : ''}\n`,
      );
    }),
  );
}

function renderProducts(products: readonly ProductItem[], all: boolean): string {
  const changed = products.filter((product) => product.current_price !== product.base_price);
  const shown = (all ? products : changed).toSorted((a, b) => a.product_id - b.product_id);
  const heading = all
    ? `current prices of all ${formatCount(products.length)} products`
    : `current prices: ${formatCount(changed.length)} of ${formatCount(products.length)} products differ from their base price (--all lists every product)`;
  if (shown.length === 0) return heading;
  const rows = shown.map((product) => [
    String(product.product_id),
    product.name,
    product.category,
    product.base_price.toFixed(2),
    product.current_price.toFixed(2),
    `${formatChange(product.current_price / product.base_price - 1)}`,
    product.floor_price.toFixed(2),
    product.ceiling_price.toFixed(2),
    String(product.price_version),
  ]);
  return `${heading}\n${renderTable(['ID', 'PRODUCT', 'CATEGORY', 'BASE', 'CURRENT', 'VS BASE', 'FLOOR', 'CEILING', 'CHANGES'], rows)}`;
}

function renderAdjustments(history: readonly PriceHistoryItem[], limit: number): string {
  const changes = history.filter((row) => row.decision === 'changed').toSorted((a, b) => b.decided_at.localeCompare(a.decided_at) || b.signal_id.localeCompare(a.signal_id));
  const held = history.length - changes.length;
  const heldLine = `${formatCount(held)} signal(s) held the price${held > 0 ? ` (latest: ${latestHold(history)})` : ''}`;
  if (changes.length === 0) return `latest adjustments: none yet\n${heldLine}`;
  const rows = changes
    .slice(0, limit)
    .map((row) => [row.decided_at.replace('T', ' ').slice(0, 19), String(row.product_id), row.old_price.toFixed(2), row.new_price.toFixed(2), row.event_hour, row.reason]);
  return [
    `latest adjustments (${formatCount(Math.min(limit, changes.length))} of ${formatCount(changes.length)})`,
    renderTable(['DECIDED (UTC)', 'PRODUCT', 'OLD', 'NEW', 'SIGNAL HOUR', 'REASON'], rows),
    heldLine,
  ].join('\n');
}

function latestHold(history: readonly PriceHistoryItem[]): string {
  const latest = history.filter((row) => row.decision === 'held').reduce((a, b) => (b.decided_at > a.decided_at ? b : a));
  return `product ${latest.product_id}, ${latest.reason}`;
}

function formatChange(fraction: number): string {
  const percent = Math.round(fraction * 1000) / 10;
  return `${percent > 0 ? '+' : ''}${percent.toFixed(1)} %`;
}
