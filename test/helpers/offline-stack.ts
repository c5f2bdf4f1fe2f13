// Every function of serverless.yml under serverless-offline (scripts/offline.ts), on this test file's
// own embedded PostgreSQL and fauxqs, on free ports, bundled into a folder of its own, so test files
// and other runs on the machine never share a port or a build. Migrated through the migrate function.
import { InvokeCommand, LambdaClient, type InvocationType } from '@aws-sdk/client-lambda';
import { rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startOfflineStack, type OfflineStack } from '../../scripts/offline.ts';
import { createTestDatabase, freePort, type TestDatabase } from './database.ts';
import { ADMIN_KEY, INTERNAL_TOKEN } from './service.ts';
import { startTestSqs, type TestSqs } from './sqs.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface SwitchyardOffline {
  stack: OfflineStack;
  database: TestDatabase;
  sqs: TestSqs;
  queueUrl: string;
  /** A pool on the test database, for the test's own reads. */
  db: pg.Pool;
  /** Invokes a function through the local Lambda Invoke API; the payload parsed, and any FunctionError. */
  invoke(name: string, payload?: unknown, type?: InvocationType): Promise<{ status: number | undefined; payload: any; functionError?: string; ms: number }>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  get(path: string): Promise<{ status: number; body: any }>;
}

export async function startSwitchyardOffline(
  t: { teardown(fn: () => unknown): void },
  { env = {} }: { env?: Record<string, string> } = {},
): Promise<SwitchyardOffline> {
  const database = await createTestDatabase();
  const sqs = await startTestSqs(t);
  const queueUrl = await sqs.createFifoQueue('switchyard-offline-jobs-main.fifo', { VisibilityTimeout: '300' });
  const esbuildDir = `.esbuild-test-${process.pid}`;
  const db = new pg.Pool({ connectionString: database.connectionString, max: 2 });
  // An idle connection the database drops on its way down must not crash the test process.
  db.on('error', () => {});
  let stack: OfflineStack | undefined;
  let lambda: LambdaClient | undefined;
  t.teardown(async () => {
    lambda?.destroy();
    await stack?.stop();
    await db.end();
    await database.close();
    rmSync(`${root}${esbuildDir}`, { recursive: true, force: true });
  });
  stack = await startOfflineStack({
    databaseUrl: database.connectionString,
    internalToken: INTERNAL_TOKEN,
    httpPort: await freePort(),
    lambdaPort: await freePort(),
    sqsQueueUrl: queueUrl,
    esbuildDir,
    env: { BOOTSTRAP_ADMIN_KEY: ADMIN_KEY, ...env },
  });
  // A connection per invoke. serverless-offline's server closes an idle keep-alive connection after
  // Node's 5 s; an invoke sent on a pooled one at that instant met the close ("socket hang up"), and
  // with one attempt (so the SDK's retries never hide a Lambda error) the test failed.
  const client = new LambdaClient({
    region: 'us-east-1', endpoint: stack.lambdaEndpoint, maxAttempts: 1,
    requestHandler: { httpAgent: new Agent({ keepAlive: false }) },
  });
  lambda = client;
  const running = stack;
  const invoke: SwitchyardOffline['invoke'] = async (name, payload = {}, type = 'RequestResponse') => {
    const started = Date.now();
    const result = await client.send(new InvokeCommand({ FunctionName: running.functionName(name), InvocationType: type, Payload: JSON.stringify(payload) }));
    const text = Buffer.from(result.Payload ?? []).toString();
    return { status: result.StatusCode, payload: text ? JSON.parse(text) : undefined, functionError: result.FunctionError, ms: Date.now() - started };
  };
  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(running.apiUrl + path, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: response.status, body: parsed as any };
  };
  return {
    stack,
    database,
    sqs,
    queueUrl,
    db,
    invoke,
    post: (path, body, headers) => request('POST', path, body, headers),
    get: (path) => request('GET', path),
  };
}
