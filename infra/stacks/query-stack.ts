import { Stack } from 'aws-cdk-lib';
import { CfnWorkGroup } from 'aws-cdk-lib/aws-athena';
import { CompositePrincipal, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnNamespace, CfnWorkgroup } from 'aws-cdk-lib/aws-redshiftserverless';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import { AGGREGATES_PREFIX, AGGREGATES_STAGING_PREFIX } from '../../tasks/aggregate/queries';
import { EVENTS_TABLE } from '../../tasks/curated/layout';
import { LakeFormationGrants } from '../constructs/lake-formation';
import { acknowledge, wildcardResource } from '../constructs/nag';
import { arnIn, lakehouseNames, type LakehouseNames } from '../names';
import { ATHENA_RESULTS_PREFIX, CURATED_ROOT, USERS_TABLE, USERS_TABLE_PREFIX } from './lake-stack';
import { removalPolicyOf, type LakehouseStackProps } from './lakehouse-stack-props';

/**
 * Querying the lake. Redshift Serverless (when the environment's aggregate engine is `redshift`):
 * a namespace and workgroup whose role reads the Glue database through Spectrum and UNLOADs the
 * aggregates, with the external schema over the database created through the Data API. Athena:
 * the pipeline's workgroup (the `athena` engine) and the analysts' workgroup, each enforcing its
 * result location and a scan limit per query.
 */
export class QueryStack extends Stack {
  readonly names: LakehouseNames;
  /** The role Spectrum reads and UNLOAD writes with (REDSHIFT_UNLOAD_ROLE_ARN). */
  readonly spectrumRole?: Role;
  readonly namespace?: CfnNamespace;
  readonly workgroup?: CfnWorkgroup;
  readonly externalSchema?: AwsCustomResource;
  readonly athenaWorkgroup: CfnWorkGroup;
  readonly analystsWorkgroup: CfnWorkGroup;

  constructor(scope: Construct, id: string, props: LakehouseStackProps) {
    super(scope, id, props);
    const { config } = props;
    const names = (this.names = lakehouseNames(config, this));
    const lake = Bucket.fromBucketName(this, 'Lake', names.lakeBucket);

    const athenaWorkgroup = (id: string, name: string, results: string, description: string) =>
      new CfnWorkGroup(this, id, {
        name,
        description,
        state: 'ENABLED',
        recursiveDeleteOption: config.removalPolicy === 'destroy',
        workGroupConfiguration: {
          enforceWorkGroupConfiguration: true,
          bytesScannedCutoffPerQuery: config.athena.bytesScannedCutoffPerQuery,
          publishCloudWatchMetricsEnabled: true,
          engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
          resultConfiguration: { outputLocation: lake.s3UrlForObject(results), encryptionConfiguration: { encryptionOption: 'SSE_S3' } },
        },
      });
    this.athenaWorkgroup = athenaWorkgroup(
      'PipelineWorkgroup',
      names.athenaWorkgroup,
      `${ATHENA_RESULTS_PREFIX}pipeline/`,
      'The aggregate step\'s queries when the aggregate engine is athena.',
    );
    this.analystsWorkgroup = athenaWorkgroup(
      'AnalystsWorkgroup',
      `${names.athenaWorkgroup}-analysts`,
      `${ATHENA_RESULTS_PREFIX}analysts/`,
      'Analysts\' queries of the lake (the analyst role), under Lake Formation\'s column grants.',
    );

    if (config.aggregateEngine === 'redshift') {
      const removalPolicy = removalPolicyOf(config);
      const role = (this.spectrumRole = new Role(this, 'SpectrumRole', {
        roleName: names.spectrumRole,
        assumedBy: new CompositePrincipal(new ServicePrincipal('redshift.amazonaws.com'), new ServicePrincipal('redshift-serverless.amazonaws.com')),
        description: 'Redshift Spectrum reads the lake\'s Glue tables and UNLOAD writes the aggregates (REDSHIFT_UNLOAD_ROLE_ARN).',
      }));
      const curated = `${CURATED_ROOT}/`;
      role.addToPolicy(
        new PolicyStatement({
          actions: ['glue:GetDatabase', 'glue:GetDatabases', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions', 'glue:BatchGetPartition'],
          resources: [arnIn(this, 'glue', 'catalog'), arnIn(this, 'glue', `database/${names.glueDatabase}`), arnIn(this, 'glue', `table/${names.glueDatabase}/*`)],
        }),
      );
      role.addToPolicy(new PolicyStatement({ actions: ['lakeformation:GetDataAccess'], resources: ['*'] }));
      role.addToPolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: [lake.arnForObjects(`${curated}*`), lake.arnForObjects(`${USERS_TABLE_PREFIX}*`)] }));
      role.addToPolicy(
        new PolicyStatement({
          actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
          resources: [lake.arnForObjects(`${AGGREGATES_STAGING_PREFIX}*`), lake.arnForObjects(`${AGGREGATES_PREFIX}*`)],
        }),
      );
      role.addToPolicy(new PolicyStatement({ actions: ['s3:ListBucket', 's3:GetBucketLocation'], resources: [lake.bucketArn] }));
      acknowledge(
        role,
        'Spectrum reads the files of whatever partitions a query touches (named by the catalog at run time) and UNLOAD names its output files itself under the aggregates\' prefixes.',
        wildcardResource(this, arnIn(this, 'glue', `table/${names.glueDatabase}/*`)),
        wildcardResource(this, lake.arnForObjects(`${curated}*`)),
        wildcardResource(this, lake.arnForObjects(`${USERS_TABLE_PREFIX}*`)),
        wildcardResource(this, lake.arnForObjects(`${AGGREGATES_STAGING_PREFIX}*`)),
        wildcardResource(this, lake.arnForObjects(`${AGGREGATES_PREFIX}*`)),
      );
      acknowledge(role, 'lakeformation:GetDataAccess supports no resource-level permissions; Lake Formation grants decide what it vends.', 'AwsSolutions-IAM5[Resource::*]');
      const grants = new LakeFormationGrants(this, 'SpectrumGrants', { principalArn: role.roleArn, database: names.glueDatabase });
      grants.onDatabase();
      grants.onTable(EVENTS_TABLE, ['SELECT', 'DESCRIBE']);
      grants.onTable(USERS_TABLE, ['SELECT', 'DESCRIBE']);

      this.namespace = new CfnNamespace(this, 'Namespace', {
        namespaceName: names.redshiftNamespace,
        dbName: config.redshift.database,
        adminUsername: 'lakehouse_admin',
        // Redshift keeps the admin password in Secrets Manager, rotated there; nobody types it.
        manageAdminPassword: true,
        iamRoles: [role.roleArn],
        defaultIamRoleArn: role.roleArn,
        logExports: ['userlog', 'connectionlog', 'useractivitylog'],
      });
      this.namespace.applyRemovalPolicy(removalPolicy);
      this.workgroup = new CfnWorkgroup(this, 'Workgroup', {
        workgroupName: names.redshiftWorkgroup,
        namespaceName: names.redshiftNamespace,
        baseCapacity: config.redshift.baseCapacityRpu,
        publiclyAccessible: false,
        enhancedVpcRouting: false,
        ...(config.redshift.subnetIds === undefined ? {} : { subnetIds: config.redshift.subnetIds }),
        ...(config.redshift.securityGroupIds === undefined ? {} : { securityGroupIds: config.redshift.securityGroupIds }),
        configParameters: [
          { parameterKey: 'require_ssl', parameterValue: 'true' },
          { parameterKey: 'enable_user_activity_logging', parameterValue: 'true' },
        ],
      });
      this.workgroup.addResourceDependency(this.namespace);
      this.workgroup.applyRemovalPolicy(removalPolicy);
      this.externalSchema = this.createExternalSchema(names, config.redshift, role, props.config.retention.logDays as RetentionDays, removalPolicy);
    }
  }

  /**
   * The external schema over the Glue database, created once through the Data API as the namespace's
   * admin, and open to the database's users (the aggregate function connects with its IAM identity).
   * The Data API runs the batch asynchronously: a failure shows in the query history, not in the deployment.
   */
  private createExternalSchema(
    names: LakehouseNames,
    redshift: LakehouseStackProps['config']['redshift'],
    role: Role,
    logRetention: RetentionDays,
    removalPolicy: ReturnType<typeof removalPolicyOf>,
  ): AwsCustomResource {
    const namespace = this.namespace as CfnNamespace;
    const workgroup = this.workgroup as CfnWorkgroup;
    const logGroup = new LogGroup(this, 'ExternalSchemaLogs', { retention: logRetention, removalPolicy });
    // The admin password's secret is Redshift's (manageAdminPassword, rotated by Redshift); CloudFormation
    // does not return its ARN, GetNamespace does.
    const namespaceDescription = new AwsCustomResource(this, 'NamespaceAdminSecret', {
      resourceType: 'Custom::RedshiftNamespaceAdminSecret',
      onUpdate: {
        service: 'RedshiftServerless',
        action: 'GetNamespace',
        parameters: { namespaceName: names.redshiftNamespace },
        physicalResourceId: PhysicalResourceId.of(`${names.redshiftNamespace}/admin-secret`),
        outputPaths: ['namespace.adminPasswordSecretArn'],
      },
      installLatestAwsSdk: false,
      logGroup,
      policy: AwsCustomResourcePolicy.fromStatements([new PolicyStatement({ actions: ['redshift-serverless:GetNamespace'], resources: [namespace.attrNamespaceNamespaceArn] })]),
    });
    namespaceDescription.node.addDependency(namespace);
    const adminSecretArn = namespaceDescription.getResponseField('namespace.adminPasswordSecretArn');
    const schema = redshift.externalSchema;
    const call = {
      service: 'RedshiftData',
      action: 'BatchExecuteStatement',
      parameters: {
        WorkgroupName: names.redshiftWorkgroup,
        Database: redshift.database,
        SecretArn: adminSecretArn,
        Sqls: [
          `CREATE EXTERNAL SCHEMA IF NOT EXISTS ${schema} FROM DATA CATALOG DATABASE '${names.glueDatabase}' IAM_ROLE '${role.roleArn}'`,
          `GRANT USAGE ON SCHEMA ${schema} TO PUBLIC`,
        ],
        StatementName: `${names.redshiftWorkgroup}-external-schema`,
      },
      physicalResourceId: PhysicalResourceId.of(`${names.redshiftWorkgroup}/${redshift.database}/${schema}`),
    };
    const resource = new AwsCustomResource(this, 'ExternalSchema', {
      resourceType: 'Custom::RedshiftExternalSchema',
      onCreate: call,
      onUpdate: call,
      installLatestAwsSdk: false,
      logGroup,
      policy: AwsCustomResourcePolicy.fromStatements([
        new PolicyStatement({ actions: ['redshift-data:BatchExecuteStatement'], resources: [workgroup.attrWorkgroupWorkgroupArn] }),
        new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [adminSecretArn] }),
      ]),
    });
    resource.node.addDependency(workgroup);
    const provider = this.node.tryFindChild(`AWS${AwsCustomResource.PROVIDER_FUNCTION_UUID.replaceAll('-', '')}`);
    if (provider !== undefined) {
      acknowledge(
        provider,
        'The provider function of AwsCustomResource (aws-cdk-lib), which writes its logs with AWSLambdaBasicExecutionRole; it runs only during deployments.',
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      );
    }
    return resource;
  }
}
