import { z } from 'zod';

/**
 * What the price model's endpoint takes and returns (`POST /invocations`, the SageMaker
 * bring-your-own-container contract): the consumer of the price_signals stream sends these, locally
 * and on AWS alike. One instance per product signal; the predictions come back in the same order.
 */

/** One product's demand over the last 24 hours with its catalog facts. */
export const priceInstanceSchema = z.object({
  product_id: z.number().int(),
  category: z.string().min(1),
  current_price: z.number().positive(),
  base_price: z.number().positive(),
  cost: z.number().nonnegative(),
  inventory: z.number().int().nonnegative(),
  views_24h: z.number().int().nonnegative(),
  add_to_carts_24h: z.number().int().nonnegative(),
  purchases_24h: z.number().int().nonnegative(),
  revenue_24h: z.number().nonnegative(),
});
export type PriceInstance = z.infer<typeof priceInstanceSchema>;

/** `application/json` request body. */
export const invocationRequestSchema = z.object({ instances: z.array(priceInstanceSchema).min(1) });
export type InvocationRequest = z.infer<typeof invocationRequestSchema>;

/** The model's answer for one instance: the price it would charge (before the consumer's guardrails). */
export const pricePredictionSchema = z.object({
  product_id: z.number().int(),
  recommended_price: z.number().positive(),
  /** Units a day the model expects at the recommended price. */
  expected_units_per_day: z.number().nonnegative(),
  model_version: z.string().min(1),
});
export type PricePrediction = z.infer<typeof pricePredictionSchema>;

/** `application/json` response body. */
export const invocationResponseSchema = z.object({ predictions: z.array(pricePredictionSchema) });
export type InvocationResponse = z.infer<typeof invocationResponseSchema>;

/**
 * `text/csv` form: one instance per line, no header, fields in this order; the response is one line
 * per prediction, `product_id,recommended_price,expected_units_per_day,model_version`.
 */
export const CSV_INSTANCE_FIELDS = [
  'product_id',
  'category',
  'current_price',
  'base_price',
  'cost',
  'inventory',
  'views_24h',
  'add_to_carts_24h',
  'purchases_24h',
  'revenue_24h',
] as const satisfies readonly (keyof PriceInstance)[];
