// Runs src/main.ts as a real child process (for signals, kill -9 and start-up messages), with the
// arguments `npm start` gives it.
import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { createTestDatabase } from './database.ts';
import { ROOT, startArgs } from '../../src/cli/start-command.ts';
import { ADMIN_KEY, INTERNAL_TOKEN } from './service.ts';
import { waitFor } from './wait.ts';

export interface ChildService {
  process: ChildProcess;
  output: () => string;
  url: () => string | undefined;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startChild(env: Record<string, string>): ChildService {
  const child = spawn(process.execPath, startArgs(), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    process: child,
    output: () => output,
    url: () => /API listening on (https?:\/\/[^\s"]+)/.exec(output)?.[1],
    exited,
  };
}

export async function waitForListening(child: ChildService, timeoutMs = 30_000): Promise<string> {
  return waitFor(() => {
    if (child.process.exitCode !== null) throw new Error(`the service exited early:\n${child.output()}`);
    return child.url();
  }, { timeoutMs, what: 'the service to listen' });
}

/** The environment a child service needs to run against `connectionString` like the in-process tests. */
export function childEnv(connectionString: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: connectionString,
    PORT: '0',
    INTERNAL_JWT_TOKEN: INTERNAL_TOKEN,
    BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
    ALLOW_PRIVATE_TARGETS: 'true',
    ...extra,
  };
}

/** Creates a job on a child service with the admin key; answers the parsed body. */
export async function createOn(url: string, body: unknown): Promise<{ id: string; status: string }> {
  const response = await fetch(url + '/v1/jobs/create', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify(body),
  });
  return response.json() as Promise<{ id: string; status: string }>;
}

/**
 * A database for one test file whose services run as child processes: the child environment for
 * it, and a way to read a job's state without a service of the file's own.
 */
export async function childTestDatabase(t: { teardown(fn: () => unknown): void }) {
  const database = await createTestDatabase();
  t.teardown(() => database.close());
  const sql = new pg.Pool({ connectionString: database.connectionString, max: 2 });
  t.teardown(() => sql.end());
  return {
    database,
    env: (extra: Record<string, string> = {}) => childEnv(database.connectionString, extra),
    jobStatus: async (id: string) => (await sql.query('SELECT status, attempts, last_error FROM jobs WHERE id = $1', [id])).rows[0],
  };
}
