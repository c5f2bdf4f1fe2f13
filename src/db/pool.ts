import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  /**
   * False: every statement runs unnamed, so nothing is prepared on the connection. For poolers that
   * hand one client's statements to several server connections without carrying its prepared
   * statements along (PgBouncer before 1.21 in transaction mode), or that pin a client to one server
   * connection once it prepares one (RDS Proxy), which would defeat the pooling.
   */
  preparedStatements?: boolean;
}

export function createPool(connectionString: string, max = 20, { preparedStatements = true }: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: 'switchyard' });
  // An idle client that loses its connection emits here; without a listener it would crash the process.
  pool.on('error', (error) => console.error(`postgres pool: ${error.message}`));
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
