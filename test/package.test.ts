// The package as a user gets it: `npm pack` (whose prepack builds dist/), the tarball installed into
// an empty folder, and then, from that folder, plain `node` (no loader, no type stripping) imports
// both entry points, creates a job through the client against a running service, reads it back and
// verifies the service's signed request; tsc checks the examples against the installed types; and
// every program in examples/ runs there against the service, as a user would run it.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppKeys } from '../src/apps/app-keys.ts';
import { startTestService } from './helpers/service.ts';
import { ROOT } from '../src/cli/start-command.ts';
import { waitFor } from './helpers/wait.ts';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'switchyard-package-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const app = join(work, 'app');
mkdirSync(app);

// A user's environment, not this test runner's: tap's NODE_OPTIONS (its loaders) and the npm_config_*
// that `npm test` exports from this repository's .npmrc would otherwise reach every child.
const userEnv: Record<string, string> = {};
const passed = ['PATH', 'HOME', 'TMPDIR', 'NODE_EXTRA_CA_CERTS', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'];
for (const name of [...passed, 'npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']) {
  if (process.env[name]) userEnv[name] = process.env[name]!;
}

const packed = JSON.parse((await run('npm', ['pack', '--pack-destination', work, '--json'], { cwd: ROOT, env: userEnv })).stdout) as [{ filename: string; files: { path: string }[] }];
const tarball = join(work, packed[0].filename);
writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'switchyard-user', private: true, type: 'module' }));
// From the npm cache that `npm ci` filled (packuments and tarballs), so this runs offline while the
// registry's newest matching versions are the locked ones; otherwise npm fetches the newer ones.
// Optional dependencies (the embedded PostgreSQL binaries, 60 MB) and install scripts are nothing
// the two entry points use.
await run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--omit=optional', '--ignore-scripts'], { cwd: app, env: userEnv });

const service = await startTestService(t);
const { key: apiKey } = await new AppKeys(service.pool).createAppKey('examples');
const [signingSecret] = (await new AppKeys(service.pool).signingSecrets(['examples'])).get('examples')!;
const appEnv = { ...userEnv, SWITCHYARD_URL: service.url, SWITCHYARD_API_KEY: apiKey, SWITCHYARD_APP_ID: 'examples' };

t.test('the tarball holds the built entry points, and the exports map points at them', async (t) => {
  const files = packed[0].files.map((file) => file.path);
  for (const built of ['dist/client/index.js', 'dist/client/index.d.ts', 'dist/client/openapi-types.d.ts', 'dist/signature.js', 'dist/signature.d.ts']) {
    t.ok(files.includes(built), `${built} is packed`);
  }
  t.notOk(files.some((file) => file.startsWith('test/') || file.startsWith('examples/')), 'tests and examples stay out');
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', `for (const name of ['client', 'signature']) console.log(import.meta.resolve('switchyard/' + name))`], { cwd: app, env: userEnv });
  t.same(stdout.trim().split('\n'), ['client/index.js', 'signature.js'].map((file) => `file://${join(app, 'node_modules/switchyard/dist', file)}`));
});

t.test('plain node imports both entry points, creates a job, reads it back and verifies its request', async (t) => {
  writeFileSync(join(app, 'smoke.mjs'), `
import { createServer } from 'node:http';
import { createClient, waitForJob } from 'switchyard/client';
import { SIGNATURE_HEADER, verifySignature } from 'switchyard/signature';

const received = [];
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk)).on('end', () => {
    const body = Buffer.concat(chunks);
    const url = 'http://127.0.0.1:' + server.address().port + req.url;
    const header = req.headers[SIGNATURE_HEADER.toLowerCase()];
    received.push({
      verified: verifySignature(header, { method: req.method, url, body }, { secret: process.env.SIGNING_SECRET }),
      tampered: verifySignature(header, { method: req.method, url, body: body + ' ' }, { secret: process.env.SIGNING_SECRET }),
    });
    res.writeHead(204).end();
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

const client = createClient({ baseUrl: process.env.SWITCHYARD_URL, apiKey: process.env.SWITCHYARD_API_KEY });
const { data: created, error } = await client.POST('/v1/jobs/create', { body: {
  appId: 'examples', mode: 'db',
  message: { lambdaProxyMessage: { httpMethod: 'POST', path: '/smoke', body: '{"smoke":true}' }, execution: { type: 'rest-api', baseUrl: 'http://127.0.0.1:' + server.address().port } },
} });
if (error) throw new Error(JSON.stringify(error));
const job = await waitForJob(client, created.id, { timeoutMs: 20000, pollIntervalMs: 100 });
const { data: read } = await client.GET('/v1/jobs/{id}', { params: { path: { id: created.id } } });
server.close();
console.log(JSON.stringify({ created, waited: job.status, read: { id: read.id, appId: read.appId, status: read.status }, received }));
`);
  const { stdout } = await run(process.execPath, ['--no-experimental-strip-types', 'smoke.mjs'], { cwd: app, env: { ...appEnv, SIGNING_SECRET: signingSecret! } });
  const result = JSON.parse(stdout);
  t.match(result.created, { id: String, status: 'pending' });
  t.equal(result.waited, 'completed');
  t.same(result.read, { id: result.created.id, appId: 'examples', status: 'completed' }, 'read back through the client');
  t.equal(result.received.length, 1);
  t.match(result.received[0].verified, { ok: true }, 'the delivery verifies with verifySignature');
  t.same(result.received[0].tampered, { ok: false, reason: 'mismatch' }, 'and a changed body does not');
});

t.test('the examples typecheck against the installed package', async (t) => {
  cpSync(join(ROOT, 'examples'), join(app, 'examples'), { recursive: true });
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      module: 'nodenext', target: 'es2024', lib: ['es2024', 'dom'], strict: true, noEmit: true, allowImportingTsExtensions: true,
      types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')],
    },
    include: ['examples'],
  }));
  const typecheck = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', app], { cwd: app, env: userEnv }).catch((error) => error);
  t.equal(typecheck.stdout ?? '', '', 'tsc finds nothing wrong');
});

t.test('every example runs against the service, and the receiver example verifies what they send', async (t) => {
  const examples = readdirSync(join(ROOT, 'examples')).filter((name) => name.endsWith('.ts')).sort();
  t.same(examples, ['batch.ts', 'create-and-wait.ts', 'idempotent-retry.ts', 'receiver.ts', 'schedule.ts'], 'each example is run below');

  const receiver = spawn(process.execPath, ['examples/receiver.ts'], { cwd: app, env: { ...userEnv, PORT: '0', SWITCHYARD_SIGNING_SECRET: signingSecret! } });
  let received = '';
  receiver.stdout.on('data', (chunk) => (received += chunk));
  receiver.stderr.on('data', (chunk) => (received += chunk));
  const exited = new Promise((resolve) => receiver.on('exit', resolve));
  t.teardown(() => receiver.exitCode === null && receiver.kill('SIGKILL'));
  const targetUrl = await waitFor(() => {
    if (receiver.exitCode !== null) throw new Error(`examples/receiver.ts exited:\n${received}`);
    return /listening on (\S+)/.exec(received)?.[1];
  }, { what: 'examples/receiver.ts to listen' });

  const order = `test-${Date.now()}`;
  const runExample = (name: string) => run(process.execPath, [`examples/${name}`], { cwd: app, env: { ...appEnv, TARGET_URL: targetUrl, ORDER: order } })
    .then(({ stdout }) => stdout, (error) => t.fail(`examples/${name} failed`, { output: error.stdout + error.stderr }));
  const [created, batch, scheduled, idempotent] = await Promise.all(['create-and-wait.ts', 'batch.ts', 'schedule.ts', 'idempotent-retry.ts'].map(runExample));

  t.match(created, /created job (\S+) \(pending\)\njob \1 is completed after 1 attempt\(s\); the target answered 204/);
  t.match(batch, /created 3 jobs: /);
  t.match(batch, /\/orders\/42\/reserve completed .*\n\/orders\/42\/charge completed .*\n\/orders\/42\/ship completed/);
  t.match(scheduled, /job (\S+) is scheduled\njob \1 is completed, \d+\.\d s after it was created/);
  t.match(idempotent, /attempt 1: fetch failed: the connection dropped[^\n]*\njob (\S+): stored by the send whose answer was lost, and returned again/);
  const { rows } = await service.pool.query('SELECT id FROM jobs WHERE idempotency_key = $1', [`order-${order}-confirmation`]);
  t.equal(rows.length, 1, 'the repeated create made one job');

  const jobIds = [created, batch, scheduled, idempotent].flatMap((output) => [...String(output).matchAll(/[0-9a-f]{8}-[0-9a-f-]{27}/g)].map((match) => match[0]));
  t.equal(new Set(jobIds).size, 6, 'six jobs were made');
  await waitFor(() => jobIds.every((id) => received.includes(`job ${id}`)), { what: 'the receiver to log every job' });
  for (const id of new Set(jobIds)) t.match(received, new RegExp(`verified POST \\S+ job ${id} attempt 1: done`), `the receiver verified job ${id}`);

  const forged = await fetch(`${targetUrl}/orders`, { method: 'POST', body: '{}', headers: { 'switchyard-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` } });
  t.equal(forged.status, 401, 'a forged request is refused');
  await waitFor(() => /refused POST \/orders: mismatch/.test(received), { what: 'the receiver to log the refusal' });
  receiver.kill('SIGTERM');
  await exited;
});
