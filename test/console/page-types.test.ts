import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

describe('the console page', () => {
  // The page runs in a browser and esbuild bundles it without checking types; the project's tsconfig
  // (Node, no DOM) does not include it, so it has its own.
  it('type-checks against the DOM and the API types', () => {
    const result = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', path.join(ROOT, 'console/page')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
