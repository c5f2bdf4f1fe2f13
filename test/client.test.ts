// switchyard/client against a running service: the committed types are those the served document
// generates, every call is typed from them (the @ts-expect-error lines fail `tsc` if a wrong call
// ever typechecks), and the helpers wait, page and report errors as documented.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { AppKeys } from '../src/apps/app-keys.ts';
import { createClient, JobWaitTimeoutError, listAllJobs, SwitchyardError, waitForJob, type CreateJobRequest } from '../src/client/index.ts';
import { GENERATE_COMMAND, GENERATED_TYPES, generateClientTypes } from '../scripts/generate-client.ts';
import { ADMIN_KEY, INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';

const service = await startTestService(t);
const target = await startTarget((request) => (request.url.startsWith('/refuse') ? { status: 400, body: 'no' } : { status: 200, body: 'ok' }));
t.teardown(() => target.close());
const admin = createClient({ baseUrl: service.url, apiKey: ADMIN_KEY });
const job = (overrides: Record<string, unknown> = {}, proxy: Record<string, unknown> = {}) =>
  restJob(target.url, { appId: 'client-app', ...overrides }, proxy) as CreateJobRequest;

t.test('the committed client types are the ones the served OpenAPI document generates', async (t) => {
  const served = await service.get('/openapi.json');
  const generated = await generateClientTypes(served.body);
  const committed = readFileSync(GENERATED_TYPES, 'utf8');
  if (generated === committed) t.pass('src/client/openapi-types.ts matches the served document');
  else t.fail(`src/client/openapi-types.ts is stale: the document GET /openapi.json serves has changed. Run \`${GENERATE_COMMAND}\` and commit src/client/openapi-types.ts.`);
  t.notOk((await generateClientTypes({ ...served.body, paths: {} })) === committed, 'the check can fail: a document without routes generates other types');
});

t.test('create, read back, and the typed error answers', async (t) => {
  const body = job({ idempotencyKey: 'client-1' });
  const created = await admin.POST('/v1/jobs/create', { body });
  t.equal(created.response.status, 202);
  t.match(created.data, { id: String, status: 'pending' });
  const again = await admin.POST('/v1/jobs/create', { body });
  t.equal(again.response.status, 200, 'the same idempotency key answers 200');
  t.equal(again.data?.id, created.data?.id, 'with the first job');

  const read = await admin.GET('/v1/jobs/{id}', { params: { path: { id: created.data!.id } } });
  t.match(read.data, { id: created.data!.id, appId: 'client-app', executionType: 'rest-api', idempotencyKey: 'client-1' });

  // @ts-expect-error mode is required: the body type comes from the document.
  const invalid = await admin.POST('/v1/jobs/create', { body: { appId: 'client-app', message: body.message } });
  t.equal(invalid.response.status, 400);
  t.equal(invalid.data, undefined);
  t.match(invalid.error, { error: 'validation_failed', fields: [{ field: 'mode' }] }, 'the error body is typed and names the field');

  const missing = await admin.GET('/v1/jobs/{id}', { params: { path: { id: '00000000-0000-7000-8000-000000000000' } } });
  t.equal(missing.response.status, 404);
  t.equal(missing.error?.error, 'job_not_found');

  const stranger = createClient({ baseUrl: service.url, apiKey: 'sy_not-a-key' });
  const refused = await stranger.GET('/v1/jobs', {});
  t.equal(refused.response.status, 401);
  t.equal(refused.error?.error, 'unauthorized');
});

t.test('an app key acts for its own app; a request may carry another token', async (t) => {
  const { key } = await new AppKeys(service.pool).createAppKey('client-own-app');
  const app = createClient({ baseUrl: service.url, apiKey: key });
  const { appId: _named, ...withoutApp } = job();
  const created = await app.POST('/v1/jobs/create', { body: withoutApp as CreateJobRequest });
  t.equal(created.response.status, 202);
  t.equal((await app.GET('/v1/jobs/{id}', { params: { path: { id: created.data!.id } } })).data?.appId, 'client-own-app', 'the key names the app');
  const other = await app.POST('/v1/jobs/create', { body: job({ appId: 'client-app' }) });
  t.equal(other.response.status, 403);

  const run = await admin.POST('/internal/v1/run-db-jobs', { body: { limit: 1 }, headers: { authorization: `Bearer ${INTERNAL_TOKEN}` } });
  t.equal(run.response.status, 200, 'a per-request authorization replaces the API key');
  t.match(run.data, { claimed: Number });
});

t.test('createClient refuses a missing baseUrl or apiKey', async (t) => {
  t.throws(() => createClient({ baseUrl: '', apiKey: ADMIN_KEY }), { name: 'TypeError', message: /baseUrl/ });
  t.throws(() => createClient({ baseUrl: service.url, apiKey: '' }), { name: 'TypeError', message: /apiKey/ });
});

t.test('waitForJob returns the job once it is terminal, however it ended', async (t) => {
  const ok = await admin.POST('/v1/jobs/create', { body: job() });
  const done = await waitForJob(admin, ok.data!.id, { pollIntervalMs: 50 });
  t.match(done, { status: 'completed', attempts: 1, lastResponse: { status: 200 } });

  const refused = await admin.POST('/v1/jobs/create', { body: job({}, { path: '/refuse' }) });
  const failed = await waitForJob(admin, refused.data!.id, { pollIntervalMs: 50 });
  t.match(failed, { status: 'failed', lastResponse: { status: 400 } }, 'a failed job resolves too: the caller reads status');

  const error = await waitForJob(admin, '00000000-0000-7000-8000-000000000000').catch((caught: unknown) => caught);
  t.ok(error instanceof SwitchyardError, 'an error answer rejects with SwitchyardError');
  t.match(error, { status: 404, body: { error: 'job_not_found' } });
});

t.test('waitForJob gives up at its timeout, or when its signal aborts', async (t) => {
  const later = await admin.POST('/v1/jobs/create', { body: job({ delaySeconds: 3600 }) });
  const started = Date.now();
  const timedOut = await waitForJob(admin, later.data!.id, { timeoutMs: 300, pollIntervalMs: 50 }).catch((caught: unknown) => caught);
  t.ok(timedOut instanceof JobWaitTimeoutError);
  t.match(timedOut, { job: { id: later.data!.id, status: 'pending' }, message: /still pending after 300 ms/ });
  // The wait sleeps no further than its deadline; the slack covers a slow request on a loaded machine.
  t.ok(Date.now() - started < 5_000, 'it stopped near its deadline');

  const controller = new AbortController();
  const waiting = waitForJob(admin, later.data!.id, { pollIntervalMs: 50 });
  const aborted = waitForJob(admin, later.data!.id, { pollIntervalMs: 10_000, signal: controller.signal });
  controller.abort(new Error('no longer needed'));
  await t.rejects(aborted, { message: 'no longer needed' }, 'aborted while its request is in flight');

  // Aborted between two reads: the client's fetch says when the first answer is back.
  let answered: () => void;
  const firstAnswer = new Promise<void>((resolve) => (answered = resolve));
  const watched = createClient({ baseUrl: service.url, apiKey: ADMIN_KEY, fetch: async (request) => {
    const response = await fetch(request);
    answered();
    return response;
  } });
  const between = new AbortController();
  const sleeping = waitForJob(watched, later.data!.id, { pollIntervalMs: 60_000, signal: between.signal });
  await firstAnswer;
  // Either way the wait must stop at once; the pause makes it likely to be asleep by then, not
  // still reading the answer, so that the sleep's own abort listener is what stops it.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const abortedAt = Date.now();
  between.abort(new Error('stop sleeping'));
  await t.rejects(sleeping, { message: 'stop sleeping' });
  t.ok(Date.now() - abortedAt < 5_000, 'at once, not after its 60 s poll interval');
  await admin.POST('/v1/jobs/{id}/cancel', { params: { path: { id: later.data!.id } } });
  t.match(await waiting, { status: 'cancelled' }, 'a cancelled job is terminal');
});

t.test('listAllJobs walks every page, each job once', async (t) => {
  const batch = await admin.POST('/v1/jobs/batch', { body: { jobs: Array.from({ length: 5 }, () => job({ appId: 'client-list', delaySeconds: 3600 })) } });
  t.equal(batch.response.status, 202);
  const ids = batch.data!.jobs.map((entry) => entry.id);
  const walked = [];
  for await (const listed of listAllJobs(admin, { appId: 'client-list', limit: 2 })) walked.push(listed.id);
  t.same(walked, [...ids].reverse(), 'newest first, all five over three pages, none twice');
  const none = [];
  for await (const listed of listAllJobs(admin, { appId: 'client-nobody' })) none.push(listed);
  t.same(none, [], 'an empty list yields nothing');
  const bad = listAllJobs(admin, { appId: 'client-list', limit: 0 });
  await t.rejects(bad.next(), { name: 'SwitchyardError', status: 400 }, 'a bad query rejects with the error answer');
});
