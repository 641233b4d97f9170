import { z } from 'zod';
import { hourField } from '../shared/task-input';

/**
 * The items of the operational tables (tasks/tables/definitions.ts), as the document client reads
 * and writes them: snake_case attributes, prices in the shop's currency, times ISO 8601 UTC.
 */

/** A price change the consumer made, as the product keeps it among its recent changes and the audit records it. */
export const priceChangeSchema = z.object({
  signal_id: z.string().min(1),
  event_hour: hourField,
  old_price: z.number().positive(),
  new_price: z.number().positive(),
  recommended_price: z.number().positive(),
  expected_units_per_day: z.number().nonnegative(),
  model_version: z.string().min(1),
  reason: z.string(),
  decided_at: z.string(),
  /** The stream record the signal came in (its SequenceNumber). */
  stream_sequence: z.string(),
});
export type PriceChange = z.infer<typeof priceChangeSchema>;

export const productItemSchema = z.object({
  product_id: z.number().int(),
  name: z.string(),
  category: z.string().min(1),
  base_price: z.number().positive(),
  cost: z.number().nonnegative(),
  inventory: z.number().int().nonnegative(),
  floor_price: z.number().positive(),
  ceiling_price: z.number().positive(),
  current_price: z.number().positive(),
  /** Counts price changes; every change is conditional on the version and price it read. */
  price_version: z.number().int().nonnegative(),
  /** The event hour of the signal behind the current price: older signals no longer move it. */
  priced_through_hour: hourField.optional(),
  /** The latest changes, newest first: a retry finds its change here when the audit write did not happen. */
  recent_changes: z.array(priceChangeSchema).default([]),
  updated_at: z.string().optional(),
});
export type ProductItem = z.infer<typeof productItemSchema>;

export interface OrderItem {
  readonly order_id: string;
  readonly product_id: number;
  readonly user_id: string;
  readonly quantity: number;
  readonly unit_price: number;
  /** ISO 8601 UTC with microseconds; the sort key of the by-product index. */
  readonly ordered_at: string;
  readonly click_id: string;
}

const count = z.number().int().nonnegative();
const amount = z.number().nonnegative();

/** One product's demand in an event hour and the 24 hours ending with it, joined with its catalog facts and orders. */
export const priceSignalItemSchema = z.object({
  product_id: z.number().int(),
  event_hour: hourField,
  /** `<event_hour>#<digest of the demand and catalog facts>`: the same inputs give the same id. */
  signal_id: z.string().min(1),
  category: z.string().min(1),
  views: count,
  add_to_carts: count,
  purchases: count,
  revenue: amount,
  views_24h: count,
  add_to_carts_24h: count,
  purchases_24h: count,
  revenue_24h: amount,
  /** Add-to-carts per view over the 24 hours (0 without views). */
  add_to_cart_rate_24h: amount,
  /** Purchases per view over the 24 hours (0 without views). */
  conversion_rate_24h: amount,
  units_ordered_24h: count,
  order_revenue_24h: amount,
  inventory: count,
  base_price: z.number().positive(),
  cost: amount,
  /** The catalog price when the signal was first written (the consumer reads the live one). */
  current_price: z.number().positive(),
  price_vs_base: z.number().positive(),
  computed_by: z.string(),
  computed_at: z.string(),
});
export type PriceSignalItem = z.infer<typeof priceSignalItemSchema>;

/** One decision of the consumer: a change, or a signal it held the price on, and why. */
export interface PriceHistoryItem {
  readonly product_id: number;
  readonly signal_id: string;
  readonly event_hour: string;
  readonly decision: 'changed' | 'held';
  readonly old_price: number;
  readonly new_price: number;
  /** What the model answered; absent when the signal was held without asking it. */
  readonly recommended_price?: number;
  readonly expected_units_per_day?: number;
  readonly model_version?: string;
  readonly reason: string;
  readonly decided_at: string;
  readonly stream_sequence: string;
}

/** Rounds to cents, for prices and revenues. */
export function roundCents(value: number): number {
  return Math.round(value * 100) / 100;
}
