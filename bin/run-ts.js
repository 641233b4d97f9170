#!/usr/bin/env node
// Runs one TypeScript script of the project (benchmarks, tools) through tsx.
const path = require('node:path');
require('tsx/cjs');
const script = process.argv[2];
if (!script) {
  console.error('run-ts: give the script to run');
  process.exit(2);
}
process.argv.splice(2, 1);
require(path.resolve(script));
