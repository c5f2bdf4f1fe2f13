// What every repository runs its statements on: pg's `query`, on a pool or on one client inside the
// caller's transaction. Repositories take it as a parameter so the caller decides what shares a
// transaction.
import type { NamedQuery } from './prepared.ts';

export interface SqlClient {
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
  /** pg's query config; a `name` makes it a prepared statement (see prepared.ts). */
  query(statement: NamedQuery): Promise<{ rows: any[] }>;
}
