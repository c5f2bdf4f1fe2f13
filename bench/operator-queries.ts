// How the benches time what an operator reads: a repository function's statement under EXPLAIN
// (ANALYZE, BUFFERS), captured exactly as the function sends it, and the dashboard's pages through
// HTTP as a browser asks for them. bench/operator-pages.ts and bench/scale.ts share these.
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { median } from './stats.ts';

export interface Statement {
  text: string;
  values: unknown[];
}

/** The one statement `read` sends, taken from a stand-in client; `read` never reaches a database. */
export async function captureStatement(read: (db: never) => Promise<unknown>): Promise<Statement> {
  let statement: Statement = { text: '', values: [] };
  const capture = async (query: string | Statement, values: unknown[] = []) => {
    // A named statement (src/db/prepared.ts) arrives as pg's query config.
    statement = typeof query === 'string' ? { text: query, values } : { text: query.text, values: query.values };
    return { rows: [] };
  };
  await read({ query: capture } as never).catch(() => {});
  if (!statement.text) throw new Error('the function sent no statement');
  return statement;
}

export interface Explained {
  /** Median of the runs' Execution Time. */
  ms: number;
  /** The last run's plan. */
  plan: string;
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of `statement`, `repeats` times on `db`. A statement that writes is
 * run as it would be: the caller wraps it in a transaction it rolls back.
 */
export async function explainAnalyze(db: pg.Pool | pg.PoolClient | pg.Client, statement: Statement, repeats: number): Promise<Explained> {
  const timings: number[] = [];
  let plan = '';
  for (let i = 0; i < repeats; i++) {
    const { rows } = await db.query(`EXPLAIN (ANALYZE, BUFFERS) ${statement.text}`, statement.values);
    plan = rows.map((row) => row['QUERY PLAN']).join('\n');
    timings.push(Number(/Execution Time: ([\d.]+) ms/.exec(plan)![1]));
  }
  return { ms: median(timings), plan };
}

/** Logs in to the dashboard with an admin key as a browser does, and returns the session cookie. */
export async function dashboardSession(base: string, adminKey: string): Promise<string> {
  const login = await fetch(`${base}/dashboard/login`);
  const loginCookie = /sy_login=[^;]+/.exec(login.headers.get('set-cookie') ?? '')![0];
  const csrf = /name="csrf" value="([^"]+)"/.exec(await login.text())![1]!;
  const session = await fetch(`${base}/dashboard/login`, {
    method: 'POST', redirect: 'manual',
    headers: { cookie: loginCookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, key: adminKey }).toString(),
  });
  return /sy_session=[^;]+/.exec(session.headers.get('set-cookie') ?? '')![0];
}

export interface PageTiming {
  page: string;
  /** Median over `repeats` loads after one uncounted warm-up. */
  ms: number;
}

/** Each page loaded `repeats` times (after one warm-up) with the session cookie; any answer but 200 throws. */
export async function timePages(base: string, cookie: string, pages: string[], repeats: number): Promise<PageTiming[]> {
  const timings: PageTiming[] = [];
  for (const page of pages) {
    const samples: number[] = [];
    for (let i = 0; i <= repeats; i++) {
      const started = performance.now();
      const response = await fetch(base + page, { headers: { cookie } });
      await response.text();
      if (response.status !== 200) throw new Error(`${page} answered ${response.status}`);
      if (i > 0) samples.push(performance.now() - started);
    }
    timings.push({ page, ms: median(samples) });
  }
  return timings;
}
