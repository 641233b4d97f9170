import { sqlString } from '../../shared/sql-text';

export interface DuckDbS3Access {
  readonly bucket: string;
  readonly region: string;
  /** The function's credentials, as Lambda puts them in its environment. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /**
   * Where the httpfs extension is (or is installed to). The npm build of DuckDB links no httpfs, so a
   * function either finds it in a layer's directory or DuckDB installs it there from its extension
   * repository at the first read. @default '/tmp/duckdb-extensions' (installed on first use)
   */
  readonly extensionDirectory?: string;
}

/**
 * What a DuckDB database runs to read the lake's `s3://` locations: httpfs, and a secret scoped to
 * the lake's bucket. The credentials are given as they are rather than through the `aws` extension's
 * credential chain, so that httpfs is the only extension needed.
 */
export function duckDbS3Setup({ bucket, region, credentials, extensionDirectory = '/tmp/duckdb-extensions' }: DuckDbS3Access): string[] {
  const secret = [
    'TYPE s3',
    `KEY_ID ${sqlString(credentials.accessKeyId)}`,
    `SECRET ${sqlString(credentials.secretAccessKey)}`,
    ...(credentials.sessionToken === undefined ? [] : [`SESSION_TOKEN ${sqlString(credentials.sessionToken)}`]),
    `REGION ${sqlString(region)}`,
    `SCOPE ${sqlString(`s3://${bucket}`)}`,
  ];
  return [`SET extension_directory = ${sqlString(extensionDirectory)}`, 'INSTALL httpfs', 'LOAD httpfs', `CREATE OR REPLACE SECRET lake_s3 (${secret.join(', ')})`];
}
