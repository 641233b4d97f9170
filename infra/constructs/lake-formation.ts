import { Stack } from 'aws-cdk-lib';
import { CfnPrincipalPermissions } from 'aws-cdk-lib/aws-lakeformation';
import { Construct } from 'constructs';
import { pascal } from '../names';

/**
 * Lake Formation grants to one principal on the lake's Glue database. The database has no
 * IAMAllowedPrincipals grant (the lake stack's data lake settings), so IAM alone reads nothing in it:
 * every role that reads or writes the catalog through Glue, Athena or Spectrum gets its grants here.
 * A grant lives in the stack of its principal, next to the role's IAM policy.
 */
export interface LakeFormationGrantsProps {
  /** The role's ARN. */
  readonly principalArn: string;
  readonly database: string;
}

/** Lake Formation's names for table permissions. */
export type TablePermission = 'SELECT' | 'INSERT' | 'DELETE' | 'DESCRIBE' | 'ALTER' | 'DROP';

export class LakeFormationGrants extends Construct {
  private readonly principalArn: string;
  private readonly database: string;
  private readonly catalogId: string;

  constructor(scope: Construct, id: string, props: LakeFormationGrantsProps) {
    super(scope, id);
    this.principalArn = props.principalArn;
    this.database = props.database;
    this.catalogId = Stack.of(this).account;
  }

  /** DESCRIBE on the database itself (needed to see any of its tables), plus `permissions`. */
  onDatabase(permissions: readonly ('DESCRIBE' | 'CREATE_TABLE' | 'ALTER')[] = ['DESCRIBE']): CfnPrincipalPermissions {
    return this.grant('Database', [...permissions], { database: { catalogId: this.catalogId, name: this.database } });
  }

  onTable(table: string, permissions: readonly TablePermission[]): CfnPrincipalPermissions {
    return this.grant(`Table${pascal(table)}`, [...permissions], { table: { catalogId: this.catalogId, databaseName: this.database, name: table } });
  }

  /** SELECT on every column of `table` but `excludedColumns`. */
  selectColumnsExcept(table: string, excludedColumns: readonly string[]): CfnPrincipalPermissions {
    return this.grant(`Columns${pascal(table)}`, ['SELECT'], {
      tableWithColumns: { catalogId: this.catalogId, databaseName: this.database, name: table, columnWildcard: { excludedColumnNames: [...excludedColumns] } },
    });
  }

  /** DATA_LOCATION_ACCESS: creating partitions that point into a registered location. */
  onDataLocation(locationArn: string): CfnPrincipalPermissions {
    return this.grant('DataLocation', ['DATA_LOCATION_ACCESS'], { dataLocation: { catalogId: this.catalogId, resourceArn: locationArn } });
  }

  private grant(id: string, permissions: string[], resource: CfnPrincipalPermissions.ResourceProperty): CfnPrincipalPermissions {
    return new CfnPrincipalPermissions(this, id, {
      catalog: this.catalogId,
      principal: { dataLakePrincipalIdentifier: this.principalArn },
      resource,
      permissions,
      permissionsWithGrantOption: [],
    });
  }
}
