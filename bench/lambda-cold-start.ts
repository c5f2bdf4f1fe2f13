// `npm run bench:lambda`: each Lambda function's cold start on this machine, from its packaged zip.
// Packages the service (as `npm run package`, into a temporary folder), unzips each function, and
// in a fresh Node process per function times the module load (import of the bundle) and the first
// invocation, then a second (warm) one, against an embedded PostgreSQL and fauxqs. Prints a table and
// one JSON line. This machine is not a Lambda: docs/deploy.md says how the figures translate.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'switchyard-cold-start-'));
const runs = Number(process.argv.find((arg) => arg.startsWith('--runs='))?.slice('--runs='.length) ?? 3);

// What each function is first invoked with: the smallest real event of its kind.
const EVENTS: Record<string, unknown> = {
  migrate: {},
  api: {
    version: '2.0', routeKey: '$default', rawPath: '/healthz', rawQueryString: '', headers: { host: 'api.example' },
    requestContext: { http: { method: 'GET', path: '/healthz', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' }, requestId: 'bench', stage: '$default', timeEpoch: 0 },
    isBase64Encoded: false,
  },
  'run-db-jobs': { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} },
  // A short deadline: the poller's window closes at once, so one empty round is timed.
  'poll-sqs': { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} },
  'sqs-consumer': { Records: [] },
  'scheduled-message': { jobId: '0190f3c2-7c1e-7000-8000-000000000000' },
};

// Runs in the fresh process: times the import and two invocations, prints one JSON line.
const PROBE = `
const started = performance.now();
const { handler } = await import(process.env.BENCH_BUNDLE);
const loaded = performance.now();
const context = { getRemainingTimeInMillis: () => Number(process.env.BENCH_REMAINING_MS), functionName: 'bench', awsRequestId: 'bench' };
const event = JSON.parse(process.env.BENCH_EVENT);
const first = await handler(event, context);
const invoked = performance.now();
await handler(event, context);
const warm = performance.now();
console.log(JSON.stringify({ loadMs: loaded - started, firstMs: invoked - loaded, warmMs: warm - invoked, ok: !first?.errorMessage }));
process.exit(0);
`;

const database = await startEmbeddedPostgres(join(work, 'pg'), 54_000 + Math.floor(Math.random() * 1000), {});
const sqs = await startFauxqs({ port: 0, logger: false });
try {
  const endpoint = `http://127.0.0.1:${sqs.port}`;
  const client = new SQSClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'bench-jobs-main.fifo', Attributes: { FifoQueue: 'true' } }));
  client.destroy();
  const queueUrl = `${endpoint}${new URL(QueueUrl!).pathname}`;

  const packageDir = join(work, 'package');
  const esbuildDir = `.esbuild-bench-${process.pid}`;
  execFileSync(process.execPath, [`${root}node_modules/osls/bin/serverless.js`, 'package', '--stage', 'bench', '--package', packageDir], {
    cwd: root, stdio: 'inherit', env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SWITCHYARD_ESBUILD_DIR: esbuildDir },
  });
  rmSync(join(root, esbuildDir), { recursive: true, force: true });

  const env = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    DATABASE_URL: database.connectionString,
    DATABASE_POOL_MAX: '2',
    INTERNAL_JWT_TOKEN: 'bench-internal-token',
    AWS_SQS_QUEUE_URL: queueUrl,
    AWS_ENDPOINT_URL_SQS: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
  };
  const results: Record<string, { zipKiB: number; loadMs: number[]; firstMs: number[]; warmMs: number[] }> = {};
  for (const name of Object.keys(EVENTS)) {
    const dir = join(work, name);
    execFileSync('unzip', ['-q', join(packageDir, `${name}.zip`), '-d', dir]);
    const result = { zipKiB: Math.round(statSync(join(packageDir, `${name}.zip`)).size / 1024), loadMs: [] as number[], firstMs: [] as number[], warmMs: [] as number[] };
    for (let run = 0; run < (name === 'migrate' ? 1 : runs); run++) {
      // Not spawnSync: fauxqs answers from this process's event loop.
      const probe = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', PROBE], {
        cwd: dir,
        env: { ...env, BENCH_BUNDLE: join(dir, 'src', 'handlers', `${name}.mjs`), BENCH_EVENT: JSON.stringify(EVENTS[name]), BENCH_REMAINING_MS: name === 'poll-sqs' ? '2500' : '60000' },
      });
      const line = probe.stdout.trim().split('\n').at(-1) ?? '';
      if (!line.startsWith('{')) throw new Error(`${name}: ${probe.stderr}${probe.stdout}`);
      const measured = JSON.parse(line);
      if (!measured.ok) throw new Error(`${name}: the first invocation failed: ${probe.stdout}`);
      result.loadMs.push(measured.loadMs);
      result.firstMs.push(measured.firstMs);
      result.warmMs.push(measured.warmMs);
    }
    results[name] = result;
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  console.log('\nfunction            zip KiB   module load ms   first invocation ms   cold start ms   warm ms');
  const summary: Record<string, unknown> = {};
  for (const [name, result] of Object.entries(results)) {
    const load = median(result.loadMs);
    const first = median(result.firstMs);
    const warm = median(result.warmMs);
    summary[name] = { zipKiB: result.zipKiB, loadMs: Math.round(load), firstMs: Math.round(first), coldMs: Math.round(load + first), warmMs: Math.round(warm) };
    console.log(`${name.padEnd(20)}${String(result.zipKiB).padStart(7)}${load.toFixed(0).padStart(17)}${first.toFixed(0).padStart(22)}${(load + first).toFixed(0).padStart(16)}${warm.toFixed(0).padStart(10)}`);
  }
  console.log(`(median of ${runs} fresh processes each, migrate once; Node ${process.version})`);
  console.log(JSON.stringify({ coldStart: summary }));
} finally {
  await sqs.stop();
  await database.stop();
  rmSync(work, { recursive: true, force: true });
}
