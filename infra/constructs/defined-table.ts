import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, StreamViewType, Table, TableEncryption, type Attribute } from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import type { KeyAttribute, TableDefinition } from '../../tasks/tables/definitions';

export interface DefinedTableProps {
  /** The table's keys, indexes and stream, as the task code defines them (tasks/tables/definitions.ts, CATALOG_TABLE). */
  readonly definition: TableDefinition;
  readonly tableName: string;
  /** RETAIN also turns deletion protection on. */
  readonly removalPolicy: RemovalPolicy;
}

/**
 * A DynamoDB table built from the definition the task code creates its local tables from, so that
 * the key schema is written once: on-demand, encrypted, with point-in-time recovery.
 */
export function definedTable(scope: Construct, id: string, { definition, tableName, removalPolicy }: DefinedTableProps): Table {
  const table = new Table(scope, id, {
    tableName,
    partitionKey: attribute(definition.partitionKey),
    ...(definition.sortKey === undefined ? {} : { sortKey: attribute(definition.sortKey) }),
    billingMode: BillingMode.PAY_PER_REQUEST,
    encryption: TableEncryption.AWS_MANAGED,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    ...(definition.stream === 'NEW_AND_OLD_IMAGES' ? { stream: StreamViewType.NEW_AND_OLD_IMAGES } : {}),
    deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
    removalPolicy,
  });
  for (const index of definition.indexes ?? []) {
    table.addGlobalSecondaryIndex({
      indexName: index.name,
      partitionKey: attribute(index.partitionKey),
      ...(index.sortKey === undefined ? {} : { sortKey: attribute(index.sortKey) }),
      projectionType: ProjectionType.ALL,
    });
  }
  return table;
}

function attribute(key: KeyAttribute): Attribute {
  return { name: key.name, type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER };
}
