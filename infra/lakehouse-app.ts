import { App, Tags, Validations, type AppProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readLakehouseConfig, type LakehouseConfig } from './config';
import { stackNameOf } from './names';
import { IngestionStack } from './stacks/ingestion-stack';
import { LakeStack } from './stacks/lake-stack';
import { OperationsStack } from './stacks/operations-stack';
import { OrchestrationStack } from './stacks/orchestration-stack';
import { PricingStack } from './stacks/pricing-stack';
import { QueryStack } from './stacks/query-stack';

export interface LakehouseStacks {
  readonly lake: LakeStack;
  readonly ingestion: IngestionStack;
  readonly query: QueryStack;
  readonly pricing: PricingStack;
  readonly orchestration: OrchestrationStack;
  readonly operations: OperationsStack;
}

export interface LakehouseApp {
  readonly app: App;
  readonly config: LakehouseConfig;
  readonly stacks: LakehouseStacks;
  /** The cdk-nag pack checking the app (AWS Solutions), for tests to run on one stack. */
  readonly nag: AwsSolutionsChecks;
}

/**
 * The lakehouse's CDK app for the environment `-c env=<name>` names in cdk.json's `environments`.
 * Stacks refer to each other's resources by name (names.ts), so the order below is only the
 * deployment order CloudFormation needs: the lake first, the alarms last.
 */
export function createLakehouseApp(props: AppProps = {}): LakehouseApp {
  const app = new App(props);
  const config = readLakehouseConfig({ env: app.node.tryGetContext('env'), environments: app.node.tryGetContext('environments') });
  const env = { ...(config.account === undefined ? {} : { account: config.account }), ...(config.region === undefined ? {} : { region: config.region }) };
  const stackProps = (concern: string, description: string) => ({ config, env, stackName: stackNameOf(config, concern), description: `Clickstream lakehouse (${config.name}): ${description}` });

  const lake = new LakeStack(app, 'Lake', stackProps('lake', 'lake bucket, Glue catalog, crawler, catalog table, Lake Formation'));
  const ingestion = new IngestionStack(app, 'Ingestion', stackProps('ingestion', 'collect API, Kinesis stream, Firehose to raw/'));
  const query = new QueryStack(app, 'Query', stackProps('query', 'Redshift Serverless (Spectrum) and Athena'));
  const pricing = new PricingStack(app, 'Pricing', stackProps('pricing', 'operational tables, price model endpoint, stream consumer'));
  const orchestration = new OrchestrationStack(app, 'Orchestration', stackProps('orchestration', 'task functions, hourly and backfill state machines, schedule'));
  const operations = new OperationsStack(app, 'Operations', stackProps('operations', 'alarms'));
  ingestion.addStackDependency(lake, 'Firehose delivers into the lake bucket');
  query.addStackDependency(lake, 'Spectrum and Athena read the Glue database under Lake Formation');
  pricing.addStackDependency(lake, 'the consumer is named the lake bucket');
  orchestration.addStackDependency(lake, 'the tasks use the bucket, the catalog table and the crawler');
  orchestration.addStackDependency(query, 'the aggregate step runs on the Redshift workgroup or the Athena workgroup');
  orchestration.addStackDependency(pricing, 'the signals step writes the operational tables');
  operations.addStackDependency(ingestion, 'alarms on the delivery stream and the API');
  operations.addStackDependency(pricing, 'alarms on the dead-letter queue and the consumer');
  operations.addStackDependency(orchestration, 'alarms on the state machines and functions');
  Tags.of(app).add('project', 'clickstream-lakehouse');
  Tags.of(app).add('environment', config.name);

  const nag = new AwsSolutionsChecks(app);
  Validations.of(app).addPlugins(nag);
  return { app, config, stacks: { lake, ingestion, query, pricing, orchestration, operations }, nag };
}
