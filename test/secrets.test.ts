// Secrets at rest and in the open: apps' signing secrets are sealed with SECRETS_ENCRYPTION_KEY (and
// re-sealed when it rotates); and after a run that uses every kind of secret the service handles,
// none of them appears in any log line, any response, or what a job recorded.
import t from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { AppKeys } from '../src/apps/app-keys.ts';
import { SecretBox } from '../src/apps/secret-box.ts';
import { parseConfig } from '../src/config/config.ts';
import type { Pool } from '../src/db/pool.ts';
import { createTestDatabase } from './helpers/database.ts';
import { ADMIN_KEY, INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const database = await createTestDatabase();
const firstKey = randomBytes(32);
const secondKey = randomBytes(32);
t.teardown(() => database.close());
/** What the apps table holds for the app, read through the running service's pool. */
const storedSecrets = async (service: { pool: Pool }, appId: string) => (await service.pool.query('SELECT signing_secret, signing_secret_next FROM apps WHERE id = $1', [appId])).rows[0];

t.test('signing secrets are sealed at rest, a rotation of the key re-seals them, and a start without the key is refused', async (t) => {
  const plain = await startTestService(t, { database, env: { RUN_WORKERS: 'false', NODE_ENV: 'production' } });
  t.ok(plain.logs.some((line) => /^warning: SECRETS_ENCRYPTION_KEY is not set/.test(line)), 'production without the key warns at start');
  await new AppKeys(plain.pool).createAppKey('early');
  const [secret] = (await new AppKeys(plain.pool).signingSecrets(['early'])).get('early')!;
  t.equal((await storedSecrets(plain, 'early')).signing_secret, secret, 'without the key, stored as it is');
  await plain.stop();

  const sealing = await startTestService(t, { database, env: { RUN_WORKERS: 'false', NODE_ENV: 'production', SECRETS_ENCRYPTION_KEY: firstKey.toString('base64') } });
  t.notOk(sealing.logs.some((line) => /^warning:/.test(line)), 'no warning with the key');
  t.ok(sealing.logs.includes('signing secrets of 1 app(s) sealed under SECRETS_ENCRYPTION_KEY'));
  const sealed = (await storedSecrets(sealing, 'early')).signing_secret as string;
  t.match(sealed, /^sy-enc:v1:[0-9a-f]{16}:/);
  t.notOk(sealed.includes(secret!), 'the stored value does not hold the secret');
  t.same((await new AppKeys(sealing.pool, undefined, 0, new SecretBox(firstKey)).signingSecrets(['early'])).get('early'), [secret], 'it opens to the same secret');
  const next = await new AppKeys(sealing.pool, undefined, 0, new SecretBox(firstKey)).startRotation('early');
  t.match((await storedSecrets(sealing, 'early')).signing_secret_next, /^sy-enc:v1:/, 'a rotation\'s next secret is sealed too');
  await sealing.stop();

  const rotated = await startTestService(t, { database, env: { RUN_WORKERS: 'false', SECRETS_ENCRYPTION_KEY: secondKey.toString('hex'), SECRETS_ENCRYPTION_PREVIOUS_KEYS: firstKey.toString('base64') } });
  t.ok(rotated.logs.includes('signing secrets of 1 app(s) sealed under SECRETS_ENCRYPTION_KEY'), 're-sealed under the new key');
  t.same((await new AppKeys(rotated.pool, undefined, 0, new SecretBox(secondKey)).signingSecrets(['early'])).get('early'), [secret, next], 'the new key alone opens both');
  const { stdout } = await promisify(execFile)(process.execPath, ['src/cli.ts', 'apps', 'secret', 'early'], {
    env: { ...process.env, DATABASE_URL: database.connectionString, SECRETS_ENCRYPTION_KEY: secondKey.toString('hex') },
  });
  t.match(stdout, new RegExp(`current: ${secret}\\n\\s*next: ${next}\\n`), 'the CLI opens them with the same key');
  const resealed = (await storedSecrets(rotated, 'early')).signing_secret as string;
  t.throws(() => new SecretBox(firstKey).open(resealed, 'early'), /neither SECRETS_ENCRYPTION_KEY/, 'the previous key no longer opens it');
  t.throws(() => new SecretBox(secondKey).open(resealed, 'another-app'), 'bound to its app: it does not open as another app\'s');
  await rotated.stop();

  await t.rejects(startTestService(t, { database, env: { RUN_WORKERS: 'false' } }), /signing secrets are encrypted, but SECRETS_ENCRYPTION_KEY is not set/);
  t.throws(() => parseConfig({ SECRETS_ENCRYPTION_KEY: 'too-short' }), { name: 'ConfigError', variable: 'SECRETS_ENCRYPTION_KEY' });
  t.throws(() => parseConfig({ SECRETS_ENCRYPTION_PREVIOUS_KEYS: firstKey.toString('base64') }), { name: 'ConfigError', variable: 'SECRETS_ENCRYPTION_PREVIOUS_KEYS' });
});

t.test('no secret the service handled reaches a log line, a response, last_error or last_response', async (t) => {
  const key = secondKey.toString('base64');
  const service = await startTestService(t, { database, env: { SECRETS_ENCRYPTION_KEY: key, RETRY_BASE_DELAY_SECONDS: '1', RETRY_MAX_DELAY_SECONDS: '1' } });
  // A target that echoes every request back, as debugging endpoints do: the test of redaction.
  const target = await startTarget((request) => ({
    status: request.url.startsWith('/ok') ? 200 : request.url.startsWith('/bad') ? 400 : 500,
    body: JSON.stringify({ headers: request.headers, body: request.body.toString() }),
  }));
  t.teardown(() => target.close());
  const box = new SecretBox(secondKey);
  const { key: appKey } = await new AppKeys(service.pool, undefined, 0, box).createAppKey('secretive');
  const nextSigning = await new AppKeys(service.pool, undefined, 0, box).startRotation('secretive');
  const signing = (await new AppKeys(service.pool, undefined, 0, box).signingSecrets(['secretive'])).get('secretive')!;
  const secrets: Record<string, string> = {
    appKey, adminKey: ADMIN_KEY, internalToken: INTERNAL_TOKEN, encryptionKey: key, encryptionKeyHex: secondKey.toString('hex'),
    previousKey: firstKey.toString('base64'), signing: signing[0]!, nextSigning: nextSigning!,
    executionAuth: 'exec-bearer-9f8e7d6c5b4a', apiKeyHeader: 'apikey-1a2b3c4d5e6f', cookie: 'session-cookie-0f1e2d3c', legacyAuth: 'legacy-bearer-77aa88bb',
  };

  const responses: string[] = [];
  const call = async (method: string, path: string, body?: unknown, auth = `Bearer ${appKey}`) => {
    const response = await fetch(service.url + path, {
      method,
      headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const headers: string[] = [];
    response.headers.forEach((value, name) => headers.push(`${name}: ${value}`));
    responses.push(`${response.status} ${headers.join('\n')} ${text}`);
    return { status: response.status, body: JSON.parse(text) };
  };
  const job = (path: string, overrides: Record<string, unknown> = {}) => {
    const { appId: _fromTheKey, ...body } = restJob(target.url, { execution: { headers: { authorization: `Bearer ${secrets.executionAuth}` } }, ...overrides }, {
      path, headers: { 'x-api-key': secrets.apiKeyHeader }, multiValueHeaders: { cookie: [`session=${secrets.cookie}`] },
    });
    return body;
  };

  const ids: string[] = [];
  for (const [path, overrides] of [['/ok', {}], ['/bad', {}], ['/fail', { retry: { maxAttempts: 2 } }]] as const) {
    const created = await call('POST', '/v1/jobs/create', job(path, overrides));
    t.equal(created.status, 202, path);
    ids.push(created.body.id);
  }
  const batch = await call('POST', '/v1/jobs/batch', { jobs: [job('/ok/batch'), job('/fail/batch', { retry: { maxAttempts: 1 } })] });
  ids.push(...batch.body.jobs.map((created: { id: string }) => created.id));
  const legacy = await call('POST', '/v1/jobs/callback-http', { url: `${target.url}/fail/legacy`, headers: { authorization: `Bearer ${secrets.legacyAuth}` }, body: { a: 1 }, maxAttempts: 1 });
  ids.push(legacy.body.id);
  const schedule: any = job('/ok/scheduled');
  schedule.message.execution = { type: 'schedule', delaySeconds: 1, targetExecution: schedule.message.execution };
  const scheduled = await call('POST', '/v1/jobs/create', schedule);
  t.equal(scheduled.status, 202, 'a schedule job');
  ids.push(scheduled.body.id);
  const delayed = await call('POST', '/v1/jobs/create', job('/ok/later', { delaySeconds: 3600 }));
  t.equal((await call('POST', `/v1/jobs/${delayed.body.id}/cancel`)).status, 200);
  const refused = await call('POST', '/v1/jobs/create', job('/ok', { execution: { headers: { authorization: `Bearer ${secrets.executionAuth}\r\n` } } }));
  t.equal(refused.status, 400, 'a refused header value is not quoted back');

  const terminal = ['completed', 'failed', 'dead_lettered'];
  for (const id of ids) await service.waitForStatus(id, terminal);
  const deadLettered = ids.find((id) => id === batch.body.jobs[1].id)!;
  t.equal((await call('POST', `/v1/jobs/${deadLettered}/retry`)).status, 200);
  await service.waitForStatus(deadLettered, 'dead_lettered');
  for (const id of ids) await call('GET', `/v1/jobs/${id}`);
  await call('GET', '/v1/jobs?limit=50');
  await call('POST', '/internal/v1/run-db-jobs', { limit: 10 }, `Bearer ${INTERNAL_TOKEN}`);
  await waitFor(async () => target.requests.length >= 9, { what: 'every attempt to reach the target' });

  const sent = JSON.stringify(target.requests.map((request) => request.headers));
  for (const name of ['executionAuth', 'apiKeyHeader', 'cookie', 'legacyAuth'] as const) t.ok(sent.includes(secrets[name]!), `the target did get ${name}`);
  const recorded = (await service.pool.query('SELECT last_error, last_response::text FROM jobs')).rows.map((row) => `${row.last_error} ${row.last_response}`);
  t.ok(recorded.some((text) => text.includes('[redacted]')), 'the echoed secrets were there to redact');
  t.ok(service.logs.some((line) => /attempt 1\/2 \(db lane\): retrying \(HTTP 500\)/.test(line)), 'attempts were logged');
  const stored = (await service.pool.query('SELECT signing_secret, signing_secret_next FROM apps')).rows.map((row) => `${row.signing_secret} ${row.signing_secret_next}`);

  const places: Record<string, string[]> = { logs: service.logs, responses, recorded, 'apps table': stored };
  for (const [place, texts] of Object.entries(places)) {
    const joined = texts.join('\n');
    const leaked = Object.entries(secrets).filter(([, value]) => joined.includes(value));
    t.same(leaked.map(([name]) => name), [], `no secret in ${place} (${texts.length} checked)`);
  }
});
