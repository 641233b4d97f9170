import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { checkGuardrails } from './guardrails';
import { applyPriceSignals, type PricingPorts, type PricingSettings } from './run';

/** The consumer's handler for a DynamoDB stream event source mapping with ReportBatchItemFailures. */
export type PriceSignalsHandler = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;

/**
 * The price_signals consumer's entry, given its ports once: the local stream delivers to it, and a
 * Lambda entry will wrap it with clients built from its configuration.
 */
export function createPriceSignalsHandler(ports: PricingPorts, settings: PricingSettings = {}): PriceSignalsHandler {
  // Refused here, when the consumer starts, rather than at its first batch.
  checkGuardrails(settings);
  return async (event) => applyPriceSignals(event, ports, settings);
}
