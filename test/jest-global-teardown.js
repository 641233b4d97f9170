const fs = require('node:fs');

/** Removes the run's temp directory made by jest-global-setup.js, and restores TMPDIR for the next run in watch mode. */
module.exports = function globalTeardown() {
  const dir = process.env.LAKEHOUSE_TEST_TMPDIR;
  if (!dir) return;
  // KEEP_CRASH_LAKES asks test/crash to keep its lakes, which live in this directory.
  if (process.env.KEEP_TEST_TMPDIR || process.env.KEEP_CRASH_LAKES) console.log(`test temp files kept under ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  if (process.env.LAKEHOUSE_TEST_TMPDIR_BEFORE) process.env.TMPDIR = process.env.LAKEHOUSE_TEST_TMPDIR_BEFORE;
  else delete process.env.TMPDIR;
  delete process.env.LAKEHOUSE_TEST_TMPDIR;
  delete process.env.LAKEHOUSE_TEST_TMPDIR_BEFORE;
};
