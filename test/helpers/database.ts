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

export interface RestartableDatabase extends TestDatabase {
  /** Stops the server (a fast shutdown: every connection is ended); the data stays. */
  stopServer(): Promise<void>;
  /** Starts the server again on the same data and port, so every client's connection string still holds. */
  startServer(): Promise<void>;
}

/**
 * An embedded PostgreSQL that a test can stop and start again under a running service. Always
 * embedded, even when DATABASE_URL is set: a shared server cannot be stopped for one test.
 */
export async function createRestartableDatabase(): Promise<RestartableDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-test-pg-'));
  const port = await freePort();
  const start = () => startEmbeddedPostgres(dir, port, { extraFlags: ['-c', 'fsync=off'] });
  let server: Awaited<ReturnType<typeof start>> | undefined = await start();
  const connectionString = server.connectionString;
  const stopServer = async () => {
    await server?.stop();
    server = undefined;
  };
  return {
    connectionString,
    stopServer,
    startServer: async () => {
      server ??= await start();
    },
    close: async () => {
      await stopServer();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function createTestDatabase(): Promise<TestDatabase> {
  const external = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  return external ? onExternalServer(external) : onEmbeddedServer();
}
