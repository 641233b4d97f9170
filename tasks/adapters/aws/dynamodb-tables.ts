import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { OperationalTables, TableSession } from '../../ports/operational-tables';
import type { TableNames } from '../../tables/definitions';

/**
 * The operational tables on AWS: the tables the CDK app created, through one document client. They
 * always exist there, so `create` has nothing to do and every `use` runs its work.
 */
export class DynamoDbTables implements OperationalTables {
  private readonly session: TableSession;

  constructor(doc: DynamoDBDocumentClient, names: TableNames) {
    this.session = { doc, names };
  }

  use<T>(work: (session: TableSession) => Promise<T>): Promise<T | undefined> {
    return work(this.session);
  }
}
