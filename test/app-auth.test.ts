// Every auth path: no key, a wrong key, a revoked key, another app's job, an admin key; keys made
// and revoked with the CLI; internal routes with a static token or a JWT; the production guard.
import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { SignJWT, UnsecuredJWT } from 'jose';
import { AppKeys } from '../src/apps/app-keys.ts';
import { parseConfig } from '../src/config/config.ts';
import { startChild } from './helpers/child.ts';
import { ADMIN_KEY, INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const service = await startTestService(t, { env: { RUN_WORKERS: 'false' } });
const target = await startTarget();
t.teardown(() => target.close());
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
/** A create body without appId: an app key supplies it. */
const appJob = () => {
  const { appId: _fromTheKey, ...body } = restJob(target.url);
  return body;
};
const countJobs = async () => (await service.pool.query('SELECT count(*)::int AS n FROM jobs')).rows[0].n as number;

async function cli(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['src/cli.ts', ...args], {
      env: { ...process.env, DATABASE_URL: service.database.connectionString },
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

async function createApp(appId: string): Promise<{ keyId: string; key: string; output: string }> {
  const { code, output } = await cli('apps', 'create', appId);
  if (code !== 0) throw new Error(`cli failed: ${output}`);
  return { keyId: /key id:\s+(\S+)/.exec(output)![1]!, key: /api key:\s+(\S+)/.exec(output)![1]!, output };
}

/**
 * The CLI revokes in another process: the service hears of it by NOTIFY, which travels on its own
 * connection, so the very next request may still beat it. It must be refused within 2 s
 * (milliseconds for the NOTIFY, the rest slack for a loaded machine), far inside the 60 s
 * AUTH_CACHE_SECONDS that would otherwise be what stops a cached key.
 */
async function refusedSoon(t: Pick<typeof import('tap').default, 'ok'>, request: () => Promise<{ status: number; body: any }>) {
  const revokedAt = Date.now();
  const refused = await waitFor(async () => {
    const response = await request();
    return response.status === 401 ? response : undefined;
  }, { timeoutMs: 10_000, intervalMs: 20, what: 'the revoked key to be refused' });
  const tookMs = Date.now() - revokedAt;
  t.ok(tookMs <= 2_000, `refused ${tookMs} ms after the revocation`);
  return refused;
}

const alpha = await createApp('alpha');
// The CLI is proven on alpha and in the revocation tests; other keys are made directly, which is quicker.
const beta = await new AppKeys(service.pool).createAppKey('beta');

t.test('the CLI shows a key once and stores only its hash', async (t) => {
  t.match(alpha.output, /shown once/);
  t.match(alpha.key, /^sy_[\w-]{40,}$/);
  const { rows } = await service.pool.query('SELECT * FROM api_keys WHERE key_id = $1', [alpha.keyId]);
  t.equal(rows.length, 1);
  t.equal(rows[0].app_id, 'alpha');
  t.same(rows[0].key_hash, createHash('sha256').update(alpha.key).digest(), 'the stored value is the SHA-256 of the key');
  const everything = JSON.stringify((await service.pool.query('SELECT * FROM api_keys')).rows);
  t.notOk(everything.includes(alpha.key) || everything.includes(beta.key), 'no key is stored readable');
  t.notOk(service.logRecords.join('\n').includes(ADMIN_KEY), 'the bootstrap key is not logged');
  const usage = await cli('apps', 'create');
  t.equal(usage.code, 2);
  t.match(usage.output, /usage: switchyard <command>/);
});

t.test('no key, a malformed header or an unknown key: 401 on every /v1 route, nothing stored', async (t) => {
  const id = (await service.post('/v1/jobs/create', restJob(target.url, { appId: 'alpha' }))).body.id as string;
  const before = await countJobs();
  for (const headers of [{ authorization: '' }, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, bearer('sy_not-a-real-key'), bearer(`${ADMIN_KEY}x`)]) {
    const label = headers.authorization || 'none';
    const create = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'alpha' }), headers);
    t.equal(create.status, 401, `create with ${label}`);
    t.equal(create.body.error, 'unauthorized');
    t.equal(create.headers.get('www-authenticate'), 'Bearer realm="switchyard"');
    t.equal((await service.post('/v1/jobs/batch', { jobs: [restJob(target.url, { appId: 'alpha' })] }, headers)).status, 401);
    t.equal((await service.post('/v1/jobs/callback-http', { appId: 'alpha', url: `${target.url}/legacy` }, headers)).status, 401);
    t.equal((await service.get('/v1/jobs', headers)).status, 401);
    t.equal((await service.get(`/v1/jobs/${id}`, headers)).status, 401);
    for (const action of ['retry', 'deadletter', 'cancel']) t.equal((await service.post(`/v1/jobs/${id}/${action}`, undefined, headers)).status, 401);
  }
  for (const path of ['/V1/jobs/create', '/%761/jobs/create', '/v1/jobs/create/', '/v1/JOBS/CREATE']) {
    t.equal((await service.post(path, restJob(target.url, { appId: 'alpha' }), { authorization: '' })).status, 401, `${path} needs a key too`);
  }
  t.equal((await service.get(`/V1/jobs/${id}`, { authorization: '' })).status, 401);
  t.equal(await countJobs(), before, 'nothing was stored');
  t.equal((await service.job(id))!.status, 'pending', 'no action was taken');
  t.equal((await service.get('/healthz', {})).status, 200, '/healthz needs no key');
  t.equal((await service.get('/openapi.json', {})).status, 200, 'the API description needs no key');
});

t.test('an app key acts for its own app: appId comes from the key; naming another app is 403', async (t) => {
  const own = await service.post('/v1/jobs/create', appJob(), bearer(alpha.key));
  t.equal(own.status, 202);
  t.equal((await service.job(own.body.id))!.app_id, 'alpha', 'the app comes from the key');
  const named = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'alpha' }), bearer(alpha.key));
  t.equal(named.status, 202, 'naming its own app is fine');

  const before = await countJobs();
  const other = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'beta' }), bearer(alpha.key));
  t.equal(other.status, 403);
  t.match(other.body, { error: 'forbidden', message: /belongs to app "alpha"/ });
  const batch = await service.post('/v1/jobs/batch', { jobs: [restJob(target.url, { appId: 'alpha' }), restJob(target.url, { appId: 'beta' })] }, bearer(alpha.key));
  t.equal(batch.status, 403, 'one item naming another app refuses the batch');
  const legacy = await service.post('/v1/jobs/callback-http', { appId: 'beta', url: `${target.url}/legacy` }, bearer(alpha.key));
  t.equal(legacy.status, 403);
  const listOther = await service.get('/v1/jobs?appId=beta', bearer(alpha.key));
  t.equal(listOther.status, 403);
  t.equal(await countJobs(), before, 'nothing was stored for the refused requests');
});

t.test("another app's job answers 404, exactly like a job that does not exist, and is not changed", async (t) => {
  const id = (await service.post('/v1/jobs/create', appJob(), bearer(alpha.key))).body.id as string;
  const read = await service.get(`/v1/jobs/${id}`, bearer(beta.key));
  t.equal(read.status, 404);
  t.same(read.body, { error: 'job_not_found', message: `job ${id} not found`, id });
  for (const action of ['retry', 'deadletter', 'cancel']) {
    const acted = await service.post(`/v1/jobs/${id}/${action}`, undefined, bearer(beta.key));
    t.equal(acted.status, 404, `${action} by another app`);
  }
  t.equal((await service.job(id))!.status, 'pending', 'the job is untouched');

  const listed = await service.get('/v1/jobs', bearer(beta.key));
  t.equal(listed.status, 200);
  t.notOk(listed.body.jobs.some((job: { appId: string }) => job.appId !== 'beta'), "an app's list holds only its own jobs");
  const ownList = await service.get('/v1/jobs', bearer(alpha.key));
  t.ok(ownList.body.jobs.some((job: { id: string }) => job.id === id));
  t.equal((await service.get(`/v1/jobs/${id}`, bearer(alpha.key))).status, 200, 'its own app reads it');
  t.equal((await service.post(`/v1/jobs/${id}/cancel`, undefined, bearer(alpha.key))).body.status, 'cancelled', 'and acts on it');
});

t.test('an admin key acts on all apps and creates jobs for any appId', async (t) => {
  const unregistered = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'never-registered' }));
  t.equal(unregistered.status, 202, 'an app is a namespace: no registration needed');
  const alphaJob = (await service.post('/v1/jobs/create', appJob(), bearer(alpha.key))).body.id as string;
  t.equal((await service.get(`/v1/jobs/${alphaJob}`)).status, 200);
  const all = await service.get('/v1/jobs?limit=500');
  const apps = new Set(all.body.jobs.map((job: { appId: string }) => job.appId));
  t.ok(apps.has('alpha') && apps.has('never-registered'), 'the admin list spans apps');
  t.equal((await service.post(`/v1/jobs/${alphaJob}/deadletter`, undefined)).body.status, 'dead_lettered');
});

t.test('a revoked key stops working at once; other keys keep working', async (t) => {
  const gamma = await new AppKeys(service.pool).createAppKey('gamma');
  t.equal((await service.get('/v1/jobs', bearer(gamma.key))).status, 200);
  const revoked = await cli('apps', 'revoke', gamma.keyId);
  t.equal(revoked.code, 0);
  t.match(revoked.output, new RegExp(`revoked ${gamma.keyId} \\(app gamma\\)`));
  const after = await refusedSoon(t, () => service.post('/v1/jobs/create', appJob(), bearer(gamma.key)));
  t.match(after.body.message, /unknown or revoked/);
  t.equal((await service.get('/v1/jobs', bearer(alpha.key))).status, 200);
  const unknown = await cli('apps', 'revoke', 'key_does-not-exist');
  t.equal(unknown.code, 1);
  t.match(unknown.output, /no key with id key_does-not-exist/);
});

t.test('admin keys made with the CLI work and can be revoked', async (t) => {
  const made = await cli('admin', 'create', 'ops');
  t.equal(made.code, 0);
  const key = /admin key:\s+(\S+)/.exec(made.output)![1]!;
  const keyId = /admin key id:\s+(\S+)/.exec(made.output)![1]!;
  t.equal((await service.post('/v1/jobs/create', restJob(target.url, { appId: 'any-app' }), bearer(key))).status, 202);
  await cli('apps', 'revoke', keyId);
  await refusedSoon(t, () => service.get('/v1/jobs', bearer(key)));
});

t.test('internal routes: the static token or an HS256 JWT with exp signed with it; nothing else', async (t) => {
  const secret = new TextEncoder().encode(INTERNAL_TOKEN);
  const now = Math.floor(Date.now() / 1000);
  const jwt = (claims: { exp?: number }, key = secret) => {
    const token = new SignJWT({ purpose: 'cron' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
    if (claims.exp !== undefined) token.setExpirationTime(claims.exp);
    return token.sign(key);
  };
  const call = (token: string) => service.post('/internal/v1/run-db-jobs', { limit: 1 }, { authorization: `Bearer ${token}` });
  t.equal((await call(INTERNAL_TOKEN)).status, 200, 'static token');
  t.equal((await call(await jwt({ exp: now + 60 }))).status, 200, 'a JWT with exp in the future');
  t.equal((await call(await jwt({ exp: now - 60 }))).status, 401, 'an expired JWT');
  t.equal((await call(await jwt({}))).status, 401, 'a JWT without exp');
  t.equal((await call(await jwt({ exp: now + 60 }, new TextEncoder().encode('another-secret')))).status, 401, 'signed with another secret');
  t.equal((await call(new UnsecuredJWT({}).setExpirationTime(now + 60).encode())).status, 401, 'alg none');
  t.equal((await call(ADMIN_KEY)).status, 401, 'an API key is not an internal token');
  t.equal((await service.post('/internal/v1/jobs/run', { limit: 1 }, { authorization: `Bearer ${await jwt({ exp: now + 60 })}` })).status, 200, 'the legacy runner takes a JWT too');
});

t.test('NODE_ENV=production without INTERNAL_JWT_TOKEN refuses to start', async (t) => {
  t.throws(() => parseConfig({ NODE_ENV: 'production' }), { name: 'ConfigError', variable: 'INTERNAL_JWT_TOKEN' });
  t.ok(parseConfig({ NODE_ENV: 'production', INTERNAL_JWT_TOKEN: 'x'.repeat(32) }), 'with the token it starts');
  const child = startChild({ NODE_ENV: 'production', INTERNAL_JWT_TOKEN: '', DATABASE_URL: service.database.connectionString, PORT: '0' });
  const exit = await child.exited;
  t.equal(exit.code, 1);
  t.match(child.output(), /invalid configuration: INTERNAL_JWT_TOKEN must be set when NODE_ENV=production/);
  t.throws(() => parseConfig({ BOOTSTRAP_ADMIN_KEY: 'short' }), { name: 'ConfigError', variable: 'BOOTSTRAP_ADMIN_KEY' }, 'a guessable bootstrap key is refused');
});

t.test('the per-app create rate limit: 429 with Retry-After; other apps and admins unaffected', async (t) => {
  const limited = await startTestService(t, { database: service.database, env: { RUN_WORKERS: 'false', CREATE_RATE_LIMIT_PER_SECOND: '0.5', CREATE_RATE_LIMIT_BURST: '3' } });
  const keys = [(await new AppKeys(limited.pool).createAppKey('fast')).key, (await new AppKeys(limited.pool).createAppKey('calm')).key];
  const [fast, calm] = keys as [string, string];
  for (let i = 0; i < 3; i++) t.equal((await limited.post('/v1/jobs/create', appJob(), bearer(fast))).status, 202, `burst ${i + 1}`);
  const count = async () => (await limited.pool.query('SELECT count(*)::int AS n FROM jobs')).rows[0].n as number;
  const before = await count();
  const refused = await limited.post('/v1/jobs/create', appJob(), bearer(fast));
  t.equal(refused.status, 429);
  t.equal(refused.body.error, 'rate_limited');
  t.ok(Number(refused.headers.get('retry-after')) >= 1, `Retry-After: ${refused.headers.get('retry-after')}`);
  t.equal((await limited.post('/v1/jobs/batch', { jobs: [appJob()] }, bearer(fast))).status, 429, 'batch shares the bucket');
  t.equal((await limited.post('/V1/Jobs/Create/', appJob(), bearer(fast))).status, 429, 'another spelling of the path shares it too');
  t.equal(await count(), before, 'nothing stored when limited');
  t.equal((await limited.post('/v1/jobs/create', appJob(), bearer(calm))).status, 202, 'another app has its own bucket');
  t.equal((await limited.post('/v1/jobs/create', restJob(target.url, { appId: 'fast' }))).status, 202, 'the admin key is not limited');
  t.equal((await limited.get('/v1/jobs', bearer(fast))).status, 200, 'reading is not limited');
});

t.test('the create rate limit holds across processes: two services on one database share each app\'s budget', async (t) => {
  const env = { RUN_WORKERS: 'false', CREATE_RATE_LIMIT_PER_SECOND: '0.1', CREATE_RATE_LIMIT_BURST: '4' };
  const first = await startTestService(t, { database: service.database, env });
  const second = await startTestService(t, { database: service.database, env });
  const { key } = await new AppKeys(first.pool).createAppKey('shared-rate');
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await (i % 2 === 0 ? first : second).post('/v1/jobs/create', appJob(), bearer(key))).status);
  t.same(statuses, [202, 202, 202, 202, 429, 429], 'a burst of 4 in all, not 4 per process');
});
