// Start, restart, configuration and health: no job is lost across a restart.
import t from 'tap';
import { createTestDatabase } from './helpers/database.ts';
import { childTestDatabase, createOn, startChild, waitForListening } from './helpers/child.ts';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const { database, env: childEnv } = await childTestDatabase(t);

t.test('jobs created while no worker runs still run after a restart', async (t) => {
  const target = await startTarget();
  t.teardown(() => target.close());
  const ids: string[] = [];
  await t.test('first start: API only', async (t) => {
    const apiOnly = await startTestService(t, { database, env: { RUN_WORKERS: 'false' } });
    for (let i = 0; i < 5; i++) ids.push((await apiOnly.post('/v1/jobs/create', restJob(target.url))).body.id);
    t.equal(ids.length, 5);
  });
  t.equal(target.requests.length, 0, 'nothing ran without workers');
  const restarted = await startTestService(t, { database });
  for (const id of ids) await restarted.waitForStatus(id, 'completed');
  t.equal(target.requests.length, 5);
});

t.test('the cron entry point runs due jobs and answers the counts; it needs the internal token', async (t) => {
  const target = await startTarget((request) => ({ status: request.body.toString() === 'bad' ? 404 : 200 }));
  t.teardown(() => target.close());
  const service = await startTestService(t, { database, env: { RUN_WORKERS: 'false' } });
  await service.post('/v1/jobs/create', restJob(target.url));
  await service.post('/v1/jobs/create', restJob(target.url));
  await service.post('/v1/jobs/create', restJob(target.url, {}, { body: 'bad' }));

  const none = await service.post('/internal/v1/run-db-jobs', { limit: 10 });
  t.equal(none.status, 401);
  t.equal(none.headers.get('www-authenticate'), 'Bearer realm="switchyard-internal"');
  const wrong = await service.post('/internal/v1/run-db-jobs', { limit: 10 }, { authorization: `Bearer ${INTERNAL_TOKEN}x` });
  t.equal(wrong.status, 401);
  t.equal(target.requests.length, 0, 'a refused call runs nothing');
  const badLimit = await service.post('/internal/v1/run-db-jobs', { limit: 0 }, { authorization: `Bearer ${INTERNAL_TOKEN}` });
  t.equal(badLimit.status, 400);
  t.match(badLimit.body.fields, [{ field: 'limit' }]);

  const first = await service.post('/internal/v1/run-db-jobs', { limit: 2 }, { authorization: `Bearer ${INTERNAL_TOKEN}` });
  t.equal(first.status, 200);
  t.match(first.body, { claimed: 2 });
  const second = await service.post('/internal/v1/run-db-jobs', { limit: 10 }, { authorization: `Bearer ${INTERNAL_TOKEN}` });
  t.equal(first.body.claimed + second.body.claimed, 3);
  t.equal(first.body.completed + second.body.completed, 2);
  t.equal(first.body.failed + second.body.failed, 1);
  t.equal(target.requests.length, 3);
});

t.test('an invalid setting stops the start with a message naming the variable', async (t) => {
  const child = startChild(childEnv({ PORT: 'eighty' }));
  const exit = await child.exited;
  t.equal(exit.code, 1);
  t.match(child.output(), /invalid configuration: PORT must be a whole number/);
});

t.test('/healthz answers 200 while the database answers, 503 when it does not', async (t) => {
  const own = await createTestDatabase();
  const service = await startTestService(t, { database: own, env: { RUN_WORKERS: 'false' } });
  const healthy = await service.get('/healthz');
  t.equal(healthy.status, 200);
  t.same(healthy.body, { status: 'ok' });
  await own.close();
  const down = await service.get('/healthz');
  t.equal(down.status, 503);
  t.equal(down.body.error, 'database_unreachable');
});

t.test('the embedded default: starts without DATABASE_URL, and a second start reuses its data', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { freePort } = await import('./helpers/database.ts');
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-embedded-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { DATABASE_URL: '', DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()), PORT: '0' };
  const target = await startTarget();
  t.teardown(() => target.close());

  const first = startChild(env);
  const url = await waitForListening(first);
  // main.ts prints the database line just after the listening line; it may arrive in a later chunk.
  await waitFor(() => first.output().includes('switchyard: database '), { what: 'the database line' });
  t.match(first.output(), new RegExp(`database postgres://127\\.0\\.0\\.1:${env.EMBEDDED_PG_PORT}/switchyard \\(embedded, data in ${dataDir}\\)`));
  t.notMatch(first.output(), /password|postgres:\/\/[^@\s]+@/, 'no credentials printed');
  // No BOOTSTRAP_ADMIN_KEY: the first embedded start makes a development admin key and prints it once.
  const devKey = /admin key \S+ created for development\. It is shown this once; keep it: (\S+)/.exec(first.output())?.[1];
  t.ok(devKey, 'the first start prints a development admin key');
  // The embedded default allows loopback targets (ALLOW_PRIVATE_TARGETS defaults on), so this local target runs.
  const created = await fetch(url + '/v1/jobs/create', {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${devKey}` }, body: JSON.stringify(restJob(target.url, { idempotencyKey: 'once' })),
  }).then((r) => r.json());
  await waitFor(() => target.requests.length === 1, { what: 'the job to run' });
  first.process.kill('SIGINT');
  t.equal((await first.exited).code, 0);

  const second = startChild(env);
  const url2 = await waitForListening(second);
  t.notMatch(second.output(), devKey!, 'the key is never printed again');
  t.match(second.output(), /admin key: one exists .*npm run cli -- admin create/);
  const again = await fetch(url2 + '/v1/jobs/create', {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${devKey}` }, body: JSON.stringify(restJob(target.url, { idempotencyKey: 'once' })),
  });
  t.equal(again.status, 200, 'the job from the first start is still there');
  t.equal((await again.json()).id, created.id);
  second.process.kill('SIGTERM');
  t.equal((await second.exited).code, 0);
});
