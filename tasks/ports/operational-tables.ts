import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { TableNames } from '../tables/definitions';

/**
 * Access to the operational tables (products, orders, price_signals, price_history). The tables are
 * DynamoDB in both modes, so what crosses this port is the SDK's document client itself: on AWS a
 * client of the real service, locally one of the in-process DynamoDB-API server.
 */
export interface TableSession {
  readonly doc: DynamoDBDocumentClient;
  readonly names: TableNames;
}

export interface OperationalTables {
  /**
   * Runs `work` with the tables; resolves undefined without running it where the tables do not exist
   * and `create` is not set (a local lake whose catalog was never seeded). Locally the session holds
   * the lake's tables for this process until `work` settles.
   */
  use<T>(work: (session: TableSession) => Promise<T>, options?: { readonly create?: boolean }): Promise<T | undefined>;
}
