#!/usr/bin/env node
// Entry point of the `lakehouse` CLI: loads the TypeScript sources through tsx so that
// the CLI, the tests and the Lambda bundles all run the same files, with no build step to forget.
require('tsx/cjs');
require('../cli/main.ts');
