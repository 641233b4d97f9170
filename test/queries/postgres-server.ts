import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseCsv } from './fixture';

/**
 * A throwaway PostgreSQL server for tests: Debian's binaries (`postgresql` package, which `.ci/run`
 * installs), `initdb` into a temp dir, `pg_ctl start` on 127.0.0.1 with a free port and the unix
 * socket in that dir, trust authentication, no locale (so text sorts bytewise, as in DuckDB).
 * Queried with the `psql` CLI, since the project has no PostgreSQL client package.
 *
 * initdb and postgres refuse to run as root: as root, they run as the `postgres` user (which the
 * Debian package creates), or `nobody`, through `runuser`; psql connects over TCP as any OS user.
 */

export interface PostgresServer {
  readonly port: number;
  readonly dir: string;
  /** Runs `sql` (one or more statements) and returns the last result as CSV rows, header first; NULL as null. */
  query(sql: string): { header: string[]; rows: (string | null)[][] };
  /** Runs `sql` (one or more statements), discarding the output. */
  exec(sql: string): void;
  stop(): void;
}


/** The bin directory of the newest installed PostgreSQL server (PG_BIN_DIR overrides); throws if there is none. */
export function postgresBinDir(): string {
  const override = process.env.PG_BIN_DIR;
  if (override) {
    if (!existsSync(path.join(override, 'initdb'))) throw new Error(`PG_BIN_DIR=${override} holds no initdb`);
    return override;
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((version) => existsSync(path.join(root, version, 'bin', 'initdb')) && existsSync(path.join(root, version, 'bin', 'pg_ctl')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      'PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb). The cross-engine check of queries/*.sql needs ' +
        "Debian's `postgresql` package: `.ci/run` installs it; locally run `apt-get install -y --no-install-recommends postgresql` (or set PG_BIN_DIR).",
    );
  }
  return path.join(root, versions[0]!, 'bin');
}

function psqlPath(bin: string): string {
  const local = path.join(bin, 'psql');
  if (existsSync(local)) return local;
  try {
    return execFileSync('sh', ['-c', 'command -v psql'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`psql not found in ${bin} nor on PATH: install Debian's postgresql (or postgresql-client) package`);
  }
}

function idOf(user: string, flag: '-u' | '-g'): number | undefined {
  try {
    return Number(execFileSync('id', [flag, user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    return undefined;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const psql = psqlPath(bin);
  const dir = mkdtempSync(path.join(tmpdir(), 'pg-check-'));
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');

  // As root, the server's commands run as an unprivileged user owning the temp dir.
  let asUser: string[] = [];
  if (process.getuid?.() === 0) {
    const user = ['postgres', 'nobody'].find((name) => idOf(name, '-u') !== undefined);
    if (!user) throw new Error('running as root and neither a "postgres" nor a "nobody" user exists to run initdb/pg_ctl as');
    chownSync(dir, idOf(user, '-u')!, idOf(user, '-g')!);
    asUser = ['runuser', '-u', user, '--'];
  }
  const run = (command: string, args: string[]) => {
    const argv = [...asUser, path.join(bin, command), ...args];
    try {
      return execFileSync(argv[0]!, argv.slice(1), { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      const { stderr, stdout, message } = error as Error & { stderr?: string; stdout?: string };
      // A command that never ran (runuser not on PATH, say) has no output: its spawn error says why.
      const output = `${stderr ?? ''}${stdout ?? ''}` || message;
      const serverLog = existsSync(log) ? readFileSync(log, 'utf8') : '';
      throw new Error(`${argv.join(' ')} failed: ${output}${serverLog ? `\nserver log:\n${serverLog}` : ''}`);
    }
  };

  const port = await freePort();
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-locale', '--encoding=UTF8', '--no-sync']);
    const options = [`-c listen_addresses=127.0.0.1`, `-p ${port}`, `-k ${dir}`, '-c fsync=off', '-c timezone=UTC', '-c datestyle=ISO,YMD'].join(' ');
    run('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', '-o', options, 'start']);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  const psqlArgs = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres'];
  const env = { ...process.env, PGTZ: 'UTC', PGCLIENTENCODING: 'UTF8', PGCONNECT_TIMEOUT: '10' };
  const psqlRun = (sql: string, extra: string[]) => {
    try {
      return execFileSync(psql, [...psqlArgs, ...extra, '-f', '-'], { input: sql, encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (error) {
      throw new Error(`psql failed: ${(error as { stderr?: string }).stderr ?? (error as Error).message}\n--- SQL ---\n${sql.slice(0, 4000)}`);
    }
  };
  let stopped = false;
  return {
    port,
    dir,
    exec(sql) {
      psqlRun(sql, []);
    },
    query(sql) {
      // psql's CSV writes NULL as an empty unquoted field and an empty string as "", as UNLOAD does.
      return parseCsv(psqlRun(sql, ['--csv', '-P', 'csv_fieldsep=|']));
    },
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
