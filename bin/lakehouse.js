#!/usr/bin/env node
// Entry point of the `lakehouse` CLI. The project targets Node 22 (Lambda nodejs22.x); when an older
// node starts this file (`node bin/lakehouse.js` on a machine whose system node is 20), run it again
// on the Node 22 that `npm install` brought as the `node` package.
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  const { spawnSync } = require('node:child_process');
  let node22;
  try {
    node22 = require.resolve('node/bin/node');
  } catch {
    process.stderr.write(`lakehouse: needs Node.js 22 or newer (this is ${process.version}); run "npm install" first\n`);
    process.exit(1);
  }
  const result = spawnSync(node22, process.argv.slice(1), { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
// tsx runs the TypeScript sources directly, so the CLI and the tests never run a stale build.
require('tsx/cjs');
require('../cli/main.ts');
