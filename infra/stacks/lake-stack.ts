import { Aws, DefaultStackSynthesizer, Duration, Fn, Stack } from 'aws-cdk-lib';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { CfnCrawler, CfnDatabase, CfnSecurityConfiguration, CfnTable } from 'aws-cdk-lib/aws-glue';
import { AccountRootPrincipal, ArnPrincipal, CompositePrincipal, Effect, PolicyStatement, Role, ServicePrincipal, type IPrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { CfnDataLakeSettings, CfnResource } from 'aws-cdk-lib/aws-lakeformation';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership, StorageClass, type LifecycleRule } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { CATALOG_TABLE } from '../../tasks/adapters/aws/dynamodb-catalog';
import { CURATED_PREFIX, EVENT_COLUMNS, EVENTS_TABLE, MANIFESTS_PREFIX, REJECTS_PREFIX, USERS_DIMENSION_KEY } from '../../tasks/curated/layout';
import { definedTable } from '../constructs/defined-table';
import { LakeFormationGrants } from '../constructs/lake-formation';
import { acknowledge, wildcardResource } from '../constructs/nag';
import { arnIn, lakehouseNames, type LakehouseNames } from '../names';
import { removalPolicyOf, type LakehouseStackProps } from './lakehouse-stack-props';

/** The Glue table of the users dimension, as the aggregate queries name it (`users`: user_id, name, segment). */
export const USERS_TABLE = 'users';
/** Where the `users` table reads: the folder the lake keeps the dimension in (Glue, Athena and Spectrum tables are folders). */
export const USERS_TABLE_PREFIX = USERS_DIMENSION_KEY.slice(0, USERS_DIMENSION_KEY.lastIndexOf('/') + 1);
/** The curated columns analysts do not see: a network of the client and a person's name. */
export const ANALYST_EXCLUDED_COLUMNS = ['ip_prefix', 'user_name'] as const;
/** Lake prefixes the pipeline writes outside the data a reader lists. */
export const STAGING_PREFIX = '_staging/';
export const ATHENA_RESULTS_PREFIX = '_athena-results/';
export const FIREHOSE_ERRORS_PREFIX = 'firehose-errors/';

const PARTITION_KEYS = ['dt', 'hr'];
/** The top of the curated data (events and the click index), registered with Lake Formation as one location. */
export const CURATED_ROOT = CURATED_PREFIX.slice(0, CURATED_PREFIX.indexOf('/'));

/**
 * The lake: its bucket (and the bucket of its access logs), the Glue database with the curated
 * `events` table and the `users` dimension, the crawler over raw/, the catalog's version of record
 * (DynamoDB), and Lake Formation governing the database, with an analyst role that sees the events
 * without the columns that identify people.
 */
export class LakeStack extends Stack {
  readonly names: LakehouseNames;
  readonly bucket: Bucket;
  readonly accessLogBucket: Bucket;
  readonly database: CfnDatabase;
  readonly eventsTable: CfnTable;
  readonly usersTable: CfnTable;
  readonly crawler: CfnCrawler;
  readonly catalogTable: Table;
  readonly analystRole: Role;
  /** Unset when the environment leaves the account's Lake Formation settings to someone else. */
  readonly dataLakeSettings?: CfnDataLakeSettings;
  /** The curated prefix, registered with Lake Formation (`arn:...:s3:::<bucket>/curated`). */
  readonly curatedLocationArn: string;

  constructor(scope: Construct, id: string, props: LakehouseStackProps) {
    super(scope, id, props);
    const { config } = props;
    const names = (this.names = lakehouseNames(config, this));
    const removalPolicy = removalPolicyOf(config);
    const retention = config.retention;

    this.accessLogBucket = new Bucket(this, 'AccessLogBucket', {
      bucketName: names.accessLogBucket,
      // S3 delivers server access logs only to a bucket encrypted with S3-managed keys.
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(retention.accessLogDays) }],
      removalPolicy,
    });

    this.bucket = new Bucket(this, 'LakeBucket', {
      bucketName: names.lakeBucket,
      // SSE-S3 rather than a customer key: Firehose, the Glue crawler, Redshift Spectrum and its
      // UNLOAD, Athena, Lake Formation's credential vending and DuckDB's httpfs in the tasks all read
      // and write it with no key grant to keep in step; who reads what is IAM's and Lake Formation's call.
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      // Versioned, so that an overwrite or a delete (a rerun's aggregates, vacuum) can be undone
      // until the noncurrent versions expire.
      versioned: true,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'lake/',
      lifecycleRules: lakeLifecycleRules(config.retention),
      removalPolicy,
    });
    this.curatedLocationArn = `${this.bucket.bucketArn}/${CURATED_ROOT}`;

    this.database = new CfnDatabase(this, 'Database', {
      catalogId: this.account,
      databaseInput: {
        name: names.glueDatabase,
        description: `The clickstream lakehouse (${config.name}): curated events by event hour, dimensions, and the raw arrival hours the crawler finds.`,
        locationUri: this.bucket.s3UrlForObject(CURATED_ROOT),
      },
    });

    this.eventsTable = new CfnTable(this, 'EventsTable', {
      catalogId: this.account,
      databaseName: names.glueDatabase,
      tableInput: {
        name: EVENTS_TABLE,
        description: 'Curated click events, one partition per event-time hour (dt, hr), deduplicated by click_id and sorted by event_time, user_id, click_id. The tasks keep its partitions in step with the catalog.',
        tableType: 'EXTERNAL_TABLE',
        parameters: { classification: 'parquet', EXTERNAL: 'TRUE' },
        partitionKeys: EVENT_COLUMNS.filter((column) => PARTITION_KEYS.includes(column.name)).map(({ name, type }) => ({ name, type })),
        storageDescriptor: {
          columns: EVENT_COLUMNS.filter((column) => !PARTITION_KEYS.includes(column.name)).map(({ name, type, comment }) => ({ name, type, ...(comment === undefined ? {} : { comment }) })),
          // Each partition's location is its manifest, the list of the files the catalog committed
          // (tasks/adapters/aws/glue-catalog-sync.ts), read through SymlinkTextInputFormat as Delta
          // Lake's manifests are: Spectrum and Athena never read a file a commit has not named.
          location: this.bucket.s3UrlForObject(`${MANIFESTS_PREFIX}${EVENTS_TABLE}/`),
          inputFormat: 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe', parameters: { 'serialization.format': '1' } },
        },
      },
    });
    this.eventsTable.addResourceDependency(this.database);

    this.usersTable = new CfnTable(this, 'UsersTable', {
      catalogId: this.account,
      databaseName: names.glueDatabase,
      tableInput: {
        name: USERS_TABLE,
        description: 'The users dimension (one JSON object a line), joined by the aggregates for segments.',
        tableType: 'EXTERNAL_TABLE',
        parameters: { classification: 'json', EXTERNAL: 'TRUE' },
        storageDescriptor: {
          columns: [
            { name: 'user_id', type: 'string' },
            { name: 'name', type: 'string' },
            { name: 'segment', type: 'string', comment: 'new, returning or loyal' },
          ],
          location: this.bucket.s3UrlForObject(USERS_TABLE_PREFIX),
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: { serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe', parameters: { 'ignore.malformed.json': 'TRUE' } },
        },
      },
    });
    this.usersTable.addResourceDependency(this.database);

    this.crawler = this.rawCrawler(names, removalPolicy);

    this.catalogTable = definedTable(this, 'CatalogTable', { definition: CATALOG_TABLE, tableName: names.catalogTable, removalPolicy });

    // Lake Formation: admins, and no IAMAllowedPrincipals default grant on new databases and tables,
    // so that the lake's database is governed by the grants below and in the other stacks alone.
    if (config.lakeFormation.manageSettings) {
      const admins = [...deploymentRoleArns(this), ...config.lakeFormation.admins];
      this.dataLakeSettings = new CfnDataLakeSettings(this, 'DataLakeSettings', {
        admins: admins.map((arn) => ({ dataLakePrincipalIdentifier: arn })),
        createDatabaseDefaultPermissions: [],
        createTableDefaultPermissions: [],
        // The settings are one per account and region: REPLACE makes them exactly these.
        mutationType: 'REPLACE',
      });
      this.database.addResourceDependency(this.dataLakeSettings);
    }

    // Registering curated/ lets Lake Formation vend credentials for it (Athena, Spectrum), so that an
    // analyst needs no S3 permission and sees only the columns granted.
    const dataAccessRole = new Role(this, 'LakeFormationDataAccessRole', {
      assumedBy: new ServicePrincipal('lakeformation.amazonaws.com'),
      description: 'Lake Formation reads and writes the registered curated/ prefix for the principals it has granted.',
    });
    dataAccessRole.addToPolicy(new PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], resources: [this.bucket.arnForObjects(`${CURATED_ROOT}/*`)] }));
    dataAccessRole.addToPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${CURATED_ROOT}/*`] } },
      }),
    );
    acknowledge(
      dataAccessRole,
      'Lake Formation vends credentials for any object under the registered curated/ prefix: the objects are the partitions\' files, named by the catalog at run time.',
      wildcardResource(this, this.bucket.arnForObjects(`${CURATED_ROOT}/*`)),
    );
    const location = new CfnResource(this, 'CuratedLocation', {
      resourceArn: this.curatedLocationArn,
      roleArn: dataAccessRole.roleArn,
      useServiceLinkedRole: false,
      hybridAccessEnabled: false,
    });
    if (this.dataLakeSettings !== undefined) location.addResourceDependency(this.dataLakeSettings);

    this.analystRole = new Role(this, 'AnalystRole', {
      roleName: names.analystRole,
      assumedBy: analystPrincipal(config.lakeFormation.analystPrincipals),
      description: `Queries the lake's events through Athena (workgroup ${names.athenaWorkgroup}-analysts) without ${ANALYST_EXCLUDED_COLUMNS.join(' and ')}; Lake Formation vends the data.`,
      maxSessionDuration: Duration.hours(4),
    });
    this.grantAnalystQueries(this.analystRole, names);
    const analystGrants = new LakeFormationGrants(this, 'AnalystGrants', { principalArn: this.analystRole.roleArn, database: names.glueDatabase });
    for (const grant of [analystGrants.onDatabase(), analystGrants.selectColumnsExcept(EVENTS_TABLE, ANALYST_EXCLUDED_COLUMNS)]) {
      grant.addResourceDependency(this.eventsTable);
      if (this.dataLakeSettings !== undefined) grant.addResourceDependency(this.dataLakeSettings);
    }
  }

  /** The crawler over raw/: each run crawls only the arrival hours it has not seen (the crawl task starts it). */
  private rawCrawler(names: LakehouseNames, removalPolicy: ReturnType<typeof removalPolicyOf>): CfnCrawler {
    // The crawler's CloudWatch logs are encrypted with a key of their own; the key policy lets
    // CloudWatch Logs use it for this account's log groups only.
    const logKey = new Key(this, 'CrawlerLogKey', {
      description: `Encrypts the ${names.rawCrawler} crawler's CloudWatch logs.`,
      enableKeyRotation: true,
      removalPolicy,
    });
    logKey.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': arnIn(this, 'logs', 'log-group:/aws-glue/crawlers*') } },
      }),
    );
    const securityConfiguration = new CfnSecurityConfiguration(this, 'CrawlerSecurityConfiguration', {
      name: `${names.rawCrawler}-crawler`,
      encryptionConfiguration: {
        cloudWatchEncryption: { cloudWatchEncryptionMode: 'SSE-KMS', kmsKeyArn: logKey.keyArn },
        jobBookmarksEncryption: { jobBookmarksEncryptionMode: 'DISABLED' },
        s3Encryptions: [{ s3EncryptionMode: 'SSE-S3' }],
      },
    });

    const role = new Role(this, 'CrawlerRole', {
      assumedBy: new ServicePrincipal('glue.amazonaws.com'),
      description: `The ${names.rawCrawler} crawler: reads raw/ and keeps its table and partitions in ${names.glueDatabase}.`,
    });
    role.addToPolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: [this.bucket.arnForObjects('raw/*')] }));
    role.addToPolicy(new PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn], conditions: { StringLike: { 's3:prefix': ['raw/*'] } } }));
    role.addToPolicy(
      new PolicyStatement({
        actions: [
          'glue:GetDatabase',
          'glue:GetTable',
          'glue:GetTables',
          'glue:CreateTable',
          'glue:UpdateTable',
          'glue:GetPartition',
          'glue:GetPartitions',
          'glue:BatchGetPartition',
          'glue:CreatePartition',
          'glue:BatchCreatePartition',
          'glue:UpdatePartition',
          'glue:BatchUpdatePartition',
          'glue:CreatePartitionIndex',
        ],
        resources: [arnIn(this, 'glue', 'catalog'), arnIn(this, 'glue', `database/${names.glueDatabase}`), arnIn(this, 'glue', `table/${names.glueDatabase}/*`)],
      }),
    );
    role.addToPolicy(new PolicyStatement({ actions: ['glue:GetSecurityConfiguration'], resources: ['*'] }));
    role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:AssociateKmsKey'],
        resources: [arnIn(this, 'logs', 'log-group:/aws-glue/crawlers*')],
      }),
    );
    role.addToPolicy(new PolicyStatement({ actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'], resources: [logKey.keyArn] }));
    acknowledge(
      role,
      'A crawler creates the table of raw/ and one partition per arrival hour, named at run time: it gets the Glue actions on this database\'s tables, the objects under raw/, and its own log groups (named by Glue after the role and security configuration).',
      wildcardResource(this, this.bucket.arnForObjects('raw/*')),
      wildcardResource(this, arnIn(this, 'glue', `table/${names.glueDatabase}/*`)),
      wildcardResource(this, arnIn(this, 'logs', 'log-group:/aws-glue/crawlers*')),
    );
    acknowledge(role, 'glue:GetSecurityConfiguration supports no resource-level permissions.', 'AwsSolutions-IAM5[Resource::*]');

    const crawler = new CfnCrawler(this, 'RawCrawler', {
      name: names.rawCrawler,
      description: 'Infers the schema of the raw arrival hours (gzip JSON lines) into the table `raw`; started by the hourly crawl step.',
      role: role.roleArn,
      databaseName: names.glueDatabase,
      targets: { s3Targets: [{ path: this.bucket.s3UrlForObject('raw/'), sampleSize: 10 }] },
      recrawlPolicy: { recrawlBehavior: 'CRAWL_NEW_FOLDERS_ONLY' },
      // A crawl of new folders only must leave existing tables and partitions as they are.
      schemaChangePolicy: { updateBehavior: 'LOG', deleteBehavior: 'LOG' },
      crawlerSecurityConfiguration: securityConfiguration.name as string,
      configuration: JSON.stringify({
        Version: 1.0,
        Grouping: { TableGroupingPolicy: 'CombineCompatibleSchemas' },
        CreatePartitionIndex: true,
      }),
    });
    crawler.addResourceDependency(securityConfiguration);
    crawler.addResourceDependency(this.database);
    const crawlerGrants = new LakeFormationGrants(this, 'CrawlerGrants', { principalArn: role.roleArn, database: names.glueDatabase });
    const databaseGrant = crawlerGrants.onDatabase(['DESCRIBE', 'CREATE_TABLE', 'ALTER']);
    databaseGrant.addResourceDependency(this.database);
    crawler.addResourceDependency(databaseGrant);
    return crawler;
  }

  /** Athena in the analysts' workgroup, the Glue definitions of the database, and the data through Lake Formation. */
  private grantAnalystQueries(role: Role, names: LakehouseNames): void {
    const workgroup = `${names.athenaWorkgroup}-analysts`;
    role.addToPolicy(
      new PolicyStatement({
        actions: ['athena:StartQueryExecution', 'athena:StopQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:GetWorkGroup', 'athena:BatchGetQueryExecution'],
        resources: [arnIn(this, 'athena', `workgroup/${workgroup}`)],
      }),
    );
    role.addToPolicy(
      new PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetDatabases', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions', 'glue:BatchGetPartition'],
        resources: [arnIn(this, 'glue', 'catalog'), arnIn(this, 'glue', `database/${names.glueDatabase}`), arnIn(this, 'glue', `table/${names.glueDatabase}/*`)],
      }),
    );
    role.addToPolicy(new PolicyStatement({ actions: ['lakeformation:GetDataAccess'], resources: ['*'] }));
    const results = `${ATHENA_RESULTS_PREFIX}analysts/`;
    role.addToPolicy(
      new PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], resources: [this.bucket.arnForObjects(`${results}*`)] }),
    );
    role.addToPolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['s3:ListBucket', 's3:GetBucketLocation'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${results}*`, ''] } },
      }),
    );
    acknowledge(
      role,
      'An analyst reads any table of the lake\'s database (Lake Formation decides which and which columns), and the result files Athena names per query under the analysts\' result prefix.',
      wildcardResource(this, arnIn(this, 'glue', `table/${names.glueDatabase}/*`)),
      wildcardResource(this, this.bucket.arnForObjects(`${results}*`)),
    );
    acknowledge(role, 'lakeformation:GetDataAccess supports no resource-level permissions; Lake Formation grants decide what it vends.', 'AwsSolutions-IAM5[Resource::*]');
  }
}

function lakeLifecycleRules(retention: LakehouseStackProps['config']['retention']): LifecycleRule[] {
  const day = Duration.days(1);
  return [
    {
      id: 'raw-arrival-hours',
      prefix: 'raw/',
      transitions:
        retention.rawDays > retention.rawInfrequentAccessDays
          ? [{ storageClass: StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(retention.rawInfrequentAccessDays) }]
          : [],
      expiration: Duration.days(retention.rawDays),
    },
    { id: 'rejects', prefix: REJECTS_PREFIX, expiration: Duration.days(retention.rejectsDays) },
    { id: 'firehose-errors', prefix: FIREHOSE_ERRORS_PREFIX, expiration: Duration.days(retention.rejectsDays) },
    // UNLOAD's staging files are moved to their keys at once; what a crash leaves is garbage after a day.
    { id: 'staging', prefix: STAGING_PREFIX, expiration: day, abortIncompleteMultipartUploadAfter: day },
    { id: 'athena-results', prefix: ATHENA_RESULTS_PREFIX, expiration: Duration.days(7) },
    // Old partition versions: vacuum deletes a version's files once no snapshot has named them for
    // partitionVersionHours; the delete leaves them noncurrent, and they expire here.
    { id: 'noncurrent-versions', noncurrentVersionExpiration: Duration.days(retention.noncurrentVersionDays), abortIncompleteMultipartUploadAfter: day },
    { id: 'expired-delete-markers', expiredObjectDeleteMarker: true },
  ];
}

/** The role CloudFormation deploys with (the CDK bootstrap's), which creates the database, tables and grants. */
function deploymentRoleArns(stack: Stack): string[] {
  const synthesizer = stack.synthesizer;
  // The synthesizer writes it with ${AWS::AccountId}-style placeholders, for Fn::Sub.
  return synthesizer instanceof DefaultStackSynthesizer ? [Fn.sub(synthesizer.cloudFormationExecutionRoleArn)] : [];
}

function analystPrincipal(arns: readonly string[]): IPrincipal {
  if (arns.length === 0) return new AccountRootPrincipal();
  const principals = arns.map((arn) => new ArnPrincipal(arn));
  return principals.length === 1 ? (principals[0] as ArnPrincipal) : new CompositePrincipal(...principals);
}
