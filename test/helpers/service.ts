// Starts a whole Switchyard (migrations, DB lane, workers, HTTP on a free port) on a test database,
// exactly as main.ts does, and tears it down with the test.
import { parseConfig, type Config } from '../../src/config/config.ts';
import { startSwitchyard, type Switchyard } from '../../src/service.ts';
import type { JobRow } from '../../src/jobs/job-repository.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { capturingLogger } from './log.ts';
import { waitFor } from './wait.ts';

export const INTERNAL_TOKEN = 'test-internal-token';
/** The admin API key every test service has (BOOTSTRAP_ADMIN_KEY); `post` and `get` send it unless told otherwise. */
export const ADMIN_KEY = 'sy_admin_test-key-0123456789abcdefghijklmnopqrstuvwxyz';
export const ADMIN_AUTH = { authorization: `Bearer ${ADMIN_KEY}` };

export interface TestService extends Switchyard {
  config: Config;
  /** The message of every line the service logged. */
  logs: string[];
  /** Every line the service logged, whole (JSON), to grep for what must never be logged. */
  logRecords: string[];
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  job(id: string): Promise<JobRow | undefined>;
  waitForStatus(id: string, status: string | string[], timeoutMs?: number): Promise<JobRow>;
}

export function testConfig(connectionString: string, env: Record<string, string> = {}): Config {
  return parseConfig({
    DATABASE_URL: connectionString,
    PORT: '0',
    INTERNAL_JWT_TOKEN: INTERNAL_TOKEN,
    BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
    // Test targets listen on loopback; the SSRF tests turn this off or narrow it.
    ALLOW_PRIVATE_TARGETS: 'true',
    SHUTDOWN_TIMEOUT_MS: '5000',
    ...env,
  });
}

/**
 * Sends the admin key unless `headers` gives another authorization; `authorization: ''` sends none.
 * Paths outside /v1 get none by default, so /internal routes see exactly what the test sends.
 */
async function request(base: string, method: string, path: string, body?: unknown, given: Record<string, string> = {}) {
  const headers: Record<string, string> = { ...(path.startsWith('/v1') ? ADMIN_AUTH : {}), ...given };
  if (headers.authorization === '') delete headers.authorization;
  const response = await fetch(base + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: response.status, body: parsed as any, headers: response.headers };
}

export async function startTestService(
  t: { teardown(fn: () => unknown): void },
  options: { env?: Record<string, string>; database?: TestDatabase } = {},
): Promise<TestService & { database: TestDatabase }> {
  const database = options.database ?? await createTestDatabase();
  const config = testConfig(database.connectionString, options.env);
  const logs: string[] = [];
  const logRecords: string[] = [];
  const service = await startSwitchyard(config, await capturingLogger(logs, logRecords)).catch(async (error) => {
    if (!options.database) await database.close();
    throw error;
  });
  // The service first, then its database: the other order leaves the pool talking to a dead server.
  t.teardown(async () => {
    await service.stop();
    if (!options.database) await database.close();
  });
  const testService: TestService = {
    ...service,
    config,
    logs,
    logRecords,
    post: (path, body, headers) => request(service.url, 'POST', path, body, headers),
    get: (path, headers) => request(service.url, 'GET', path, undefined, headers),
    job: async (id) => (await service.pool.query('SELECT * FROM jobs WHERE id = $1', [id])).rows[0],
    waitForStatus: (id, status, timeoutMs = 15_000) => {
      const wanted = Array.isArray(status) ? status : [status];
      return waitFor(async () => {
        const row = (await service.pool.query('SELECT * FROM jobs WHERE id = $1', [id])).rows[0] as JobRow | undefined;
        return row && wanted.includes(row.status) ? row : undefined;
      }, { timeoutMs, what: `job ${id} to be ${wanted.join(' or ')}` });
    },
  };
  return Object.assign(testService, { database });
}

/** A create request for a rest-api job against `baseUrl`, with overrides merged in. */
export function restJob(baseUrl: string, overrides: Record<string, any> = {}, proxy: Record<string, any> = {}) {
  const { execution, ...rest } = overrides;
  return {
    appId: 'test-app',
    mode: 'db',
    message: {
      lambdaProxyMessage: { httpMethod: 'POST', path: '/hook', body: '{"hello":"world"}', headers: { 'content-type': 'application/json' }, ...proxy },
      execution: { type: 'rest-api', baseUrl, ...execution },
      metadata: {},
    },
    ...rest,
  };
}
