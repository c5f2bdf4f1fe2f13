// Each test file gets a database of its own: a fresh database on DATABASE_URL when that is set,
// else a private embedded PostgreSQL in a temporary directory on a free port. Nothing is shared
// between files, so tap can run them in parallel.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';

export interface TestDatabase {
  connectionString: string;
  /** Stops the server, or drops the database, and removes its files. */
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function onExternalServer(baseUrl: string): Promise<TestDatabase> {
  const name = `switchyard_test_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    connectionString: url.toString(),
    close: async () => {
      const client = new pg.Client({ connectionString: baseUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

async function onEmbeddedServer(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-test-pg-'));
  // The service's own embedded start, on a throwaway directory; durability is not needed here.
  const server = await startEmbeddedPostgres(dir, await freePort(), { extraFlags: ['-c', 'fsync=off'] });
  return {
    connectionString: server.connectionString,
    close: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function createTestDatabase(): Promise<TestDatabase> {
  const external = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  return external ? onExternalServer(external) : onEmbeddedServer();
}
