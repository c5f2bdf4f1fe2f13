import pg from 'pg';
import type { Logger } from '../ops/log.ts';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

// A request waits at most this long for a connection: with the database away, it answers 503 at once
// rather than hanging until the client gives up (pg's default is to wait for ever).
const CONNECT_TIMEOUT_MS = 5_000;

export interface PoolOptions {
  log: Logger;
  max?: number;
  /**
   * False: every statement runs unnamed, so nothing is prepared on the connection. For poolers that
   * hand one client's statements to several server connections without carrying its prepared
   * statements along (PgBouncer before 1.21 in transaction mode), or that pin a client to one server
   * connection once it prepares one (RDS Proxy), which would defeat the pooling.
   */
  preparedStatements?: boolean;
}

export function createPool(connectionString: string, { log, max = 20, preparedStatements = true }: PoolOptions): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: 'switchyard', connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // An idle client that loses its connection emits here; without a listener it would crash the process.
  pool.on('error', (error) => log.error({ reason: error.message }, `postgres pool: ${error.message}`));
  // Decided per connection, where statements are prepared, so the repositories that name their hot
  // statements (db/prepared.ts) need not know which kind of database is behind the pool.
  if (!preparedStatements) pool.on('connect', runUnnamed);
  return pool;
}

function runUnnamed(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((config: unknown, ...rest: unknown[]) => {
    // A submittable (a cursor, a pg.Query) is handed on as it is: it is not a plain query config.
    if (config !== null && typeof config === 'object' && 'name' in config && !('submit' in config)) {
      const { name: _name, ...unnamed } = config as Record<string, unknown>;
      return query(unnamed, ...rest);
    }
    return query(config, ...rest);
  }) as typeof client.query;
}

/** Runs `work` in one transaction on one client: COMMIT when it resolves, ROLLBACK when it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // The pool takes its own error listener off a client it hands out. A connection that dies while
  // the transaction holds it (the server stopped or restarted) emits 'error' on the client, which
  // unheard ends the process; the statement in flight, or the next one, rejects with it anyway.
  let lost: Error | undefined;
  const onError = (error: Error) => {
    lost = error;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    // A lost connection is discarded, and keeps the listener for whatever it still emits on its way out.
    if (lost === undefined) client.removeListener('error', onError);
    client.release(lost);
  }
}

// SQLSTATE classes and codes that mean "the database is not there", not "the statement is wrong":
// connection exceptions (08), the server shutting down or starting (57P01-57P03), too many clients.
const UNAVAILABLE_CODES = /^(08...|57P0[123]|53300)$/;
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|connection error and is not queryable|Client was closed/;

/** True when an error says the database cannot be reached (down, restarting, out of connections). */
export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (UNAVAILABLE_CODES.test(code) || UNAVAILABLE_ERRNO.has(code))) return true;
  if (error instanceof AggregateError) return error.errors.some(isDatabaseUnavailable);
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message);
}

/** A safe description of a connection string for logs: host, port and database, never credentials. */
export function describeDatabase(connectionString: string): string {
  const url = new URL(connectionString);
  return `postgres://${url.hostname}:${url.port || 5432}${url.pathname}`;
}
