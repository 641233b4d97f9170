import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './fixture';

const run = promisify(execFile);

/** `npx cdk synth` as a user runs it (infra/README.md): cdk.json's app and default environment, bundled by the local esbuild, with no Docker engine on this machine. */
describe('npx cdk synth', () => {
  let outdir: string;
  beforeAll(() => {
    outdir = mkdtempSync(path.join(tmpdir(), 'lakehouse-cdk-cli-'));
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('synthesizes every stack of the default environment', async () => {
    // The CLI prints its messages to stderr, or to stdout when CI=true: the test reads both.
    const { stdout, stderr } = await run('npx', ['cdk', 'synth', '--quiet', '--output', outdir], { cwd: REPO_ROOT, timeout: 300_000 });
    expect(stdout + stderr).toContain('Successfully synthesized');
    const templates = readdirSync(outdir).filter((name) => name.endsWith('.template.json')).sort();
    expect(templates).toEqual(['Ingestion', 'Lake', 'Operations', 'Orchestration', 'Pricing', 'Query'].map((stack) => `${stack}.template.json`));
    expect(existsSync(path.join(outdir, 'manifest.json'))).toBe(true);
  }, 300_000);
});
