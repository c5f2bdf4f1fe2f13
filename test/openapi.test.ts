// The OpenAPI document describes what the service really answers: every route is called, and every
// response is validated against the schema the document gives for its path, method and status.
import t from 'tap';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { z } from 'zod';
import { newJobId } from '../src/jobs/job-id.ts';
import { CreateJobRequest } from '../src/model/message-schema.ts';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';

const service = await startTestService(t, { env: { RUN_WORKERS: 'false' } });
const target = await startTarget((request) => (request.url === '/fails' ? { status: 400, body: 'no' } : { status: 200, body: 'ok' }));
t.teardown(() => target.close());
const auth = { authorization: `Bearer ${INTERNAL_TOKEN}` };

const served = await service.get('/openapi.json');
const document = served.body;
const ajv = new Ajv2020({ strict: false, allErrors: true });
(formats as unknown as (ajv: Ajv2020) => void)(ajv);
ajv.addSchema(document, 'openapi');

const pointer = (...segments: string[]) => segments.map((segment) => encodeURIComponent(segment.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/');
const checked = new Set<string>();
type Assert = Pick<typeof t, 'ok'>;

/** Validates one real response against the document; fails when its status is not documented. */
function conforms(t: Assert, method: string, path: string, response: { status: number; body: unknown }) {
  const operation = document.paths[path]?.[method];
  t.ok(operation, `${method.toUpperCase()} ${path} is documented`);
  t.ok(operation?.responses?.[response.status], `${method.toUpperCase()} ${path} documents status ${response.status}`);
  const validate = ajv.getSchema(`openapi#/${pointer('paths', path, method, 'responses', String(response.status), 'content', 'application/json', 'schema')}`);
  t.ok(validate, `${method.toUpperCase()} ${path} ${response.status} has a JSON schema to check the answer against`);
  if (!validate) return;
  const valid = validate(response.body);
  t.ok(valid, `${method.toUpperCase()} ${path} ${response.status} matches the document`, { errors: validate.errors, body: response.body });
  checked.add(`${method} ${path}`);
}

/** Checks that a request the service accepted matches the request schema the document gives. */
function requestConforms(t: Assert, method: string, path: string, body: unknown) {
  const validate = ajv.getSchema(`openapi#/${pointer('paths', path, method, 'requestBody', 'content', 'application/json', 'schema')}`);
  t.ok(validate?.(body), `the accepted ${method.toUpperCase()} ${path} body matches the documented request`, { errors: validate?.errors });
}

t.test('the document is OpenAPI 3.1 generated from the request schema', async (t) => {
  conforms(t, 'get', '/openapi.json', served);
  t.equal(document.openapi, '3.1.0');
  const { $schema: _dialect, ...generated } = z.toJSONSchema(CreateJobRequest, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  t.same(document.components.schemas.CreateJobRequest, generated);
});

t.test('every route answers as documented', async (t) => {
  conforms(t, 'get', '/healthz', await service.get('/healthz'));

  const createBody = restJob(target.url, { appId: 'doc-app', idempotencyKey: 'doc-1', messageGroupId: 'doc-group', execution: { headers: { authorization: 'Bearer x' } } });
  requestConforms(t, 'post', '/v1/jobs/create', createBody);
  const created = await service.post('/v1/jobs/create', createBody);
  conforms(t, 'post', '/v1/jobs/create', created);
  conforms(t, 'post', '/v1/jobs/create', await service.post('/v1/jobs/create', createBody));
  conforms(t, 'post', '/v1/jobs/create', await service.post('/v1/jobs/create', { appId: 'doc-app' }));
  const form = await service.post('/v1/jobs/create', 'appId=doc-app', { 'content-type': 'application/x-www-form-urlencoded' });
  t.equal(form.status, 415);
  conforms(t, 'post', '/v1/jobs/create', form);
  const huge = await service.post('/v1/jobs/create', { ...createBody, pad: 'x'.repeat(2 * 1024 * 1024) });
  t.equal(huge.status, 413);
  conforms(t, 'post', '/v1/jobs/create', huge);

  const batchBody = { jobs: [restJob(target.url, { appId: 'doc-app', idempotencyKey: 'doc-2' }, { path: '/fails' }), restJob(target.url, { appId: 'doc-app', delaySeconds: 3600 })] };
  requestConforms(t, 'post', '/v1/jobs/batch', batchBody);
  const batch = await service.post('/v1/jobs/batch', batchBody);
  conforms(t, 'post', '/v1/jobs/batch', batch);
  conforms(t, 'post', '/v1/jobs/batch', await service.post('/v1/jobs/batch', { jobs: [batchBody.jobs[0]] }));
  conforms(t, 'post', '/v1/jobs/batch', await service.post('/v1/jobs/batch', { jobs: 'none' }));

  const legacyBody = { appId: 'doc-app', url: `${target.url}/legacy?a=1`, method: 'PATCH', headers: { 'x-api-key': 'k' }, body: { a: 1 }, maxAttempts: 2, runAt: new Date().toISOString() };
  requestConforms(t, 'post', '/v1/jobs/callback-http', legacyBody);
  const legacy = await service.post('/v1/jobs/callback-http', legacyBody);
  conforms(t, 'post', '/v1/jobs/callback-http', legacy);
  conforms(t, 'post', '/v1/jobs/callback-http', await service.post('/v1/jobs/callback-http', { url: 'x' }));

  for (const path of ['/internal/v1/run-db-jobs', '/internal/v1/jobs/run']) {
    requestConforms(t, 'post', path, { limit: 10 });
    conforms(t, 'post', path, await service.post(path, { limit: 10 }, auth));
    conforms(t, 'post', path, await service.post(path, { limit: -1 }, auth));
    conforms(t, 'post', path, await service.post(path, { limit: 10 }));
  }
  const poll = '/internal/v1/poll-sqs';
  requestConforms(t, 'post', poll, { limit: 10 });
  conforms(t, 'post', poll, await service.post(poll, { limit: 10 }, auth));
  conforms(t, 'post', poll, await service.post(poll, { limit: 0 }, auth));
  conforms(t, 'post', poll, await service.post(poll, { limit: 10 }));
  const scheduled = '/internal/v1/process-scheduled-message';
  const delivery = { jobId: newJobId() };
  conforms(t, 'post', scheduled, await service.post(scheduled, delivery, auth));
  requestConforms(t, 'post', scheduled, delivery);
  conforms(t, 'post', scheduled, await service.post(scheduled, { jobId: 'not-a-uuid' }, auth));
  conforms(t, 'post', scheduled, await service.post(scheduled, delivery));

  const [failedJob, delayedJob] = batch.body.jobs.map((job: { id: string }) => job.id);
  for (const id of [created.body.id, failedJob, delayedJob, legacy.body.id]) conforms(t, 'get', '/v1/jobs/{id}', await service.get(`/v1/jobs/${id}`));
  conforms(t, 'get', '/v1/jobs/{id}', await service.get(`/v1/jobs/${newJobId()}`));
  for (const id of [created.body.id, failedJob]) conforms(t, 'get', '/v1/jobs/{id}/attempts', await service.get(`/v1/jobs/${id}/attempts`));
  conforms(t, 'get', '/v1/jobs/{id}/attempts', await service.get(`/v1/jobs/${newJobId()}/attempts`));

  const page = await service.get('/v1/jobs?appId=doc-app&limit=2');
  conforms(t, 'get', '/v1/jobs', page);
  conforms(t, 'get', '/v1/jobs', await service.get(`/v1/jobs?appId=doc-app&limit=2&cursor=${page.body.nextCursor}`));
  conforms(t, 'get', '/v1/jobs', await service.get('/v1/jobs?limit=zero'));

  conforms(t, 'post', '/v1/jobs/{id}/retry', await service.post(`/v1/jobs/${failedJob}/retry`, {}));
  conforms(t, 'post', '/v1/jobs/{id}/retry', await service.post(`/v1/jobs/${created.body.id}/retry`, {}));
  conforms(t, 'post', '/v1/jobs/{id}/retry', await service.post(`/v1/jobs/${newJobId()}/retry`, {}));
  conforms(t, 'post', '/v1/jobs/{id}/cancel', await service.post(`/v1/jobs/${delayedJob}/cancel`, {}));
  conforms(t, 'post', '/v1/jobs/{id}/cancel', await service.post(`/v1/jobs/${delayedJob}/cancel`, {}));
  conforms(t, 'post', '/v1/jobs/{id}/cancel', await service.post(`/v1/jobs/${newJobId()}/cancel`, {}));
  conforms(t, 'post', '/v1/jobs/{id}/deadletter', await service.post(`/v1/jobs/${failedJob}/deadletter`, {}));
  conforms(t, 'post', '/v1/jobs/{id}/deadletter', await service.post(`/v1/jobs/${created.body.id}/deadletter`, {}));
  conforms(t, 'post', '/v1/jobs/{id}/deadletter', await service.post(`/v1/jobs/${newJobId()}/deadletter`, {}));

  const bulkBody = { action: 'cancel', filter: { appId: 'doc-app', status: 'pending' } };
  requestConforms(t, 'post', '/v1/bulk-actions', bulkBody);
  conforms(t, 'post', '/v1/bulk-actions', await service.post('/v1/bulk-actions', { ...bulkBody, dryRun: true }));
  const bulk = await service.post('/v1/bulk-actions', bulkBody);
  conforms(t, 'post', '/v1/bulk-actions', bulk);
  conforms(t, 'post', '/v1/bulk-actions', await service.post('/v1/bulk-actions', { action: 'cancel', filter: {} }));
  conforms(t, 'get', '/v1/bulk-actions', await service.get('/v1/bulk-actions'));
  conforms(t, 'get', '/v1/bulk-actions/{id}', await service.get(`/v1/bulk-actions/${bulk.body.id}`));
  conforms(t, 'get', '/v1/bulk-actions/{id}', await service.get(`/v1/bulk-actions/${newJobId()}`));
  conforms(t, 'post', '/v1/bulk-actions/{id}/cancel', await service.post(`/v1/bulk-actions/${bulk.body.id}/cancel`, {}));
  conforms(t, 'post', '/v1/bulk-actions/{id}/cancel', await service.post(`/v1/bulk-actions/${newJobId()}/cancel`, {}));

  const job = (await service.get(`/v1/jobs/${legacy.body.id}`)).body;
  const wrong = ajv.getSchema(`openapi#/${pointer('components', 'schemas', 'Job')}`)!;
  t.ok(wrong(job));
  t.notOk(wrong({ ...job, status: 'lost' }), 'the check can fail: an unknown status is refused');
  t.notOk(wrong({ ...job, createdAt: 'yesterday' }), 'the check can fail: a malformed timestamp is refused');

  const documented = Object.entries(document.paths).flatMap(([path, operations]) => Object.keys(operations as object).map((method) => `${method} ${path}`));
  t.same([...checked].sort(), documented.sort(), 'every documented route was called and checked');
});
