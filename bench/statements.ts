// The statements that cost PostgreSQL the most, from pg_stat_statements (which the bench's embedded
// server loads): which statement to put under EXPLAIN when a figure moves.
import type { BenchServer } from './postgres.ts';
import { withClient } from './postgres.ts';

export interface StatementCost {
  datname: string;
  calls: number;
  total_ms: number;
  mean_ms: number;
  rows: number;
  query: string;
}

/** The view lives in a database of its own on the server, made the first time it is asked for. */
async function onStatsDatabase<T>(server: BenchServer, work: (url: string) => Promise<T>): Promise<T> {
  const url = await server.createDatabase('bench_stats');
  await withClient(url, (db) => db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements'));
  return work(url);
}

/** Forgets what was counted so far, so that what follows is measured alone. */
export async function resetStatements(server: BenchServer): Promise<void> {
  await onStatsDatabase(server, (url) => withClient(url, (db) => db.query('SELECT pg_stat_statements_reset()')));
}

/** The `limit` statements with the most execution time in the databases whose names match a LIKE pattern. */
export async function topStatements(server: BenchServer, patterns: string[], limit = 25): Promise<StatementCost[]> {
  return onStatsDatabase(server, (url) => withClient(url, async (db) => (await db.query(
    `SELECT d.datname, s.calls::int, round(s.total_exec_time::numeric, 1)::float8 AS total_ms, round(s.mean_exec_time::numeric, 3)::float8 AS mean_ms,
            s.rows::int, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 110) AS query
       FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname LIKE ANY($1)
      ORDER BY s.total_exec_time DESC LIMIT $2`,
    [patterns, limit],
  )).rows));
}
