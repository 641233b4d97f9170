const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/**
 * Points TMPDIR (read by os.tmpdir()) at one directory for the whole run, so the temp files of tests, of the
 * jest workers (forked after this, with this process's environment) and of the processes they spawn all land
 * in it; jest-global-teardown.js removes it. A killed run leaves at most this one directory behind.
 */
module.exports = function globalSetup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lakehouse-test-'));
  // mkdtemp makes it 0700: tests that run a process as another user (PostgreSQL via runuser, as root) need to reach their dirs in it.
  fs.chmodSync(dir, 0o755);
  process.env.LAKEHOUSE_TEST_TMPDIR = dir;
  process.env.LAKEHOUSE_TEST_TMPDIR_BEFORE = process.env.TMPDIR ?? '';
  process.env.TMPDIR = dir;
};
