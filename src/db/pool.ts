import pg from 'pg';
import type { Logger } from '../ops/log.ts';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export function createPool(connectionString: string, { log, max = 20 }: { log: Logger; max?: number }): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: 'switchyard' });
  // An idle client that loses its connection emits here; without a listener it would crash the process.
  pool.on('error', (error) => log.error({ reason: error.message }, `postgres pool: ${error.message}`));
  return pool;
}

/** Runs `work` in one transaction on one client: COMMIT when it resolves, ROLLBACK when it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** A safe description of a connection string for logs: host, port and database, never credentials. */
export function describeDatabase(connectionString: string): string {
  const url = new URL(connectionString);
  return `postgres://${url.hostname}:${url.port || 5432}${url.pathname}`;
}
