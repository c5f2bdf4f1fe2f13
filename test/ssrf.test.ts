// The SSRF guard: metadata addresses always refused, private and loopback ones unless allowed;
// checked at create (400 naming the field) and again at execution on the address actually
// connected to; a redirect never leads a job to a refused address.
import t from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRestApiExecutor } from '../src/executors/rest-api.ts';
import { createGuardedDispatcher, refusalReason, RefusedTargetError } from '../src/executors/ssrf-guard.ts';
import { newJobId } from '../src/jobs/job-id.ts';
import { assertTargetsAllowed, TargetVerdicts, VERDICT_TTL_MS } from '../src/jobs/target-check.ts';
import { createTestDatabase } from './helpers/database.ts';
import { restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';

// One database for the file: each subtest's service stops before the next starts.
const database = await createTestDatabase();
t.teardown(() => database.close());

t.test('which addresses are refused', async (t) => {
  const none = { allowPrivate: false };
  const all = { allowPrivate: true };
  for (const address of ['169.254.169.254', '169.254.0.1', 'fd00:ec2::254', '::ffff:169.254.169.254']) {
    t.match(refusalReason(address, all), /metadata/, `${address} is refused even when private targets are allowed`);
  }
  for (const address of ['127.0.0.1', '127.9.9.9', '10.0.0.1', '172.16.5.4', '192.168.1.1', '100.64.0.1', '0.0.0.0', '::1', '::', 'fc00::1', 'fe80::1', '::ffff:10.0.0.1', '224.0.0.1']) {
    t.match(refusalReason(address, none), /loopback or private/, `${address} refused when private targets are off`);
    t.equal(refusalReason(address, all), undefined, `${address} allowed when they are on`);
  }
  for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111']) t.equal(refusalReason(address, none), undefined, `${address} is public`);
  const narrow = { allowPrivate: ['10.1.0.0/16', '127.0.0.1/32'] };
  t.equal(refusalReason('10.1.2.3', narrow), undefined, 'inside an allowed range');
  t.match(refusalReason('10.2.0.1', narrow), /private/, 'outside every allowed range');
  t.match(refusalReason('169.254.169.254', { allowPrivate: ['169.254.0.0/16'] }), /metadata/, 'no list can allow metadata');
});

t.test('refused targets get a 400 at create naming the field, and nothing is stored', async (t) => {
  const service = await startTestService(t, { database, env: { RUN_WORKERS: 'false', ALLOW_PRIVATE_TARGETS: 'false' } });
  const target = await startTarget();
  t.teardown(() => target.close());
  const port = new URL(target.url).port;
  const cases: [string, string][] = [
    ['the metadata IP', 'http://169.254.169.254'],
    ['the IPv6 metadata IP', 'http://[fd00:ec2::254]'],
    ['a private IP', 'http://10.20.30.40:8080'],
    ['a loopback IP', target.url],
    ['a name resolving to loopback', `http://localhost:${port}`],
  ];
  for (const [what, baseUrl] of cases) {
    const response = await service.post('/v1/jobs/create', restJob(baseUrl));
    t.equal(response.status, 400, what);
    t.match(response.body.fields, [{ field: 'message.execution.baseUrl', message: /target refused/ }], what);
  }
  const batch = await service.post('/v1/jobs/batch', { jobs: [restJob('http://93.184.215.14'), restJob('http://169.254.169.254/latest')] });
  t.equal(batch.status, 400);
  t.match(batch.body.fields, [{ field: 'jobs.1.message.execution.baseUrl', message: /metadata/ }]);
  const legacy = await service.post('/v1/jobs/callback-http', { appId: 'legacy', url: 'http://127.0.0.1:9/hook' });
  t.equal(legacy.status, 400);
  t.match(legacy.body.fields, [{ field: 'url', message: /loopback or private/ }]);
  t.equal((await service.pool.query('SELECT count(*)::int AS n FROM jobs')).rows[0].n, 0, 'nothing stored');
  t.equal(target.requests.length, 0, 'nothing sent');
});

t.test('metadata is refused even where private targets are allowed', async (t) => {
  const service = await startTestService(t, { database, env: { RUN_WORKERS: 'false' } });
  t.equal(service.config.allowPrivateTargets, true);
  const response = await service.post('/v1/jobs/create', restJob('http://169.254.169.254/latest/meta-data'));
  t.equal(response.status, 400);
  t.match(response.body.fields, [{ field: 'message.execution.baseUrl', message: /cloud metadata/ }]);
});

t.test('checked again at execution: a job stored while allowed fails, unsent, once the address is refused', async (t) => {
  const target = await startTarget();
  t.teardown(() => target.close());
  let id = '';
  await t.test('stored while private targets were allowed', async (t) => {
    const permissive = await startTestService(t, { database, env: { RUN_WORKERS: 'false' } });
    id = (await permissive.post('/v1/jobs/create', restJob(target.url))).body.id;
    t.ok(id);
  });
  const strict = await startTestService(t, { database, env: { ALLOW_PRIVATE_TARGETS: 'false' } });
  const row = await strict.waitForStatus(id, 'failed');
  t.match(row.last_error, /target refused: 127\.0\.0\.1 connected to 127\.0\.0\.1 is a loopback or private address/);
  t.equal(row.attempts, 1, 'a refused target fails at once; retrying cannot help');
  t.equal(target.requests.length, 0, 'the target never got the request');
});

async function listen(host: string, handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((request, response) => {
    hits.push(request.url ?? '');
    handler!(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, url: `http://${host}:${(server.address() as AddressInfo).port}`, hits };
}

t.test('a redirect to a refused address is not followed', async (t) => {
  // 127.0.0.2 stands in for an internal host: only 127.0.0.1 is allowed here.
  const internal = await listen('127.0.0.2', (_request, response) => response.end('internal secrets'));
  t.teardown(() => new Promise((resolve) => internal.server.close(resolve)));
  const redirector = await startTarget(() => ({ status: 302, headers: { location: `${internal.url}/admin` } }));
  t.teardown(() => redirector.close());

  const service = await startTestService(t, { database, env: { ALLOW_PRIVATE_TARGETS: '127.0.0.1/32' } });
  const direct = await service.post('/v1/jobs/create', restJob(internal.url));
  t.equal(direct.status, 400, 'the internal host itself is refused at create');
  const created = await service.post('/v1/jobs/create', restJob(redirector.url));
  t.equal(created.status, 202, 'the allowed host is accepted');
  const row = await service.waitForStatus(created.body.id, 'failed');
  t.match(row.last_error, /HTTP 302: redirects are not followed/);
  t.match(row.last_response, { status: 302 });
  t.equal(redirector.requests.length, 1);
  t.same(internal.hits, [], 'the redirect target was never called');

  // The dispatcher refuses by itself too, so an executor that did follow redirects would still be safe.
  const dispatcher = createGuardedDispatcher({ allowPrivate: ['127.0.0.1/32'] });
  t.teardown(() => dispatcher.close());
  const followed = fetch(redirector.url, { dispatcher, redirect: 'follow' } as RequestInit);
  await t.rejects(followed, { cause: RefusedTargetError });
  t.same(internal.hits, [], 'still never called');
});

t.test('the dispatcher judges the address connected to, whatever the URL says', async (t) => {
  const target = await startTarget();
  t.teardown(() => target.close());
  const dispatcher = createGuardedDispatcher({ allowPrivate: false });
  t.teardown(() => dispatcher.close());
  for (const url of [target.url, target.url.replace('127.0.0.1', 'localhost'), target.url.replace('127.0.0.1', '[::ffff:127.0.0.1]')]) {
    const error = await fetch(url, { dispatcher } as RequestInit).then(() => undefined, (failure) => failure as Error & { cause: unknown });
    t.type(error?.cause, RefusedTargetError, url);
  }
  t.equal(target.requests.length, 0);
  const open = createGuardedDispatcher({ allowPrivate: true });
  t.teardown(() => open.close());
  t.equal((await fetch(target.url, { dispatcher: open } as RequestInit)).status, 200, 'allowed when the policy allows it');
});

t.test('the create-time verdict is kept for 30 s, and a name that turns private meanwhile is still refused at connect', async (t) => {
  const target = await startTarget();
  t.teardown(() => target.close());
  // A resolver standing in for DNS, used both at create and at connect: the name first points at a
  // public address, then (DNS rebinding) at loopback, where the test's target listens.
  let answer = '93.184.215.14';
  const lookups: string[] = [];
  const resolve = async (host: string) => {
    lookups.push(host);
    return [{ address: answer, family: 4 }];
  };
  let now = 1_000_000;
  const verdicts = new TargetVerdicts({ resolve, now: () => now });
  const policy = { allowPrivate: false };
  const url = `http://rebinding.example:${new URL(target.url).port}`;
  const job = [{ execution: { type: 'rest-api' as const, baseUrl: url } }];

  await assertTargetsAllowed(job, policy, verdicts);
  await assertTargetsAllowed(job, policy, verdicts);
  t.same(lookups, ['rebinding.example'], 'one lookup for two creates');
  answer = '127.0.0.1';
  now += VERDICT_TTL_MS - 1;
  await assertTargetsAllowed(job, policy, verdicts);
  t.equal(lookups.length, 1, 'within the 30 s the kept verdict answers, so a create is accepted');

  const dispatcher = createGuardedDispatcher(policy, {}, resolve);
  t.teardown(() => dispatcher.close());
  const executor = createRestApiExecutor({ defaultTimeoutMs: 2_000, dispatcher });
  const outcome = await executor.execute({
    jobId: newJobId(), appId: 'a', attempt: 1, idempotencyKey: undefined, signal: new AbortController().signal,
    lambdaProxyMessage: { httpMethod: 'POST', path: '/hook', body: 'x' }, execution: job[0]!.execution,
  });
  t.match(outcome, { kind: 'fail', reason: /target refused: rebinding\.example connected to 127\.0\.0\.1 is a loopback or private address/ }, 'the socket is judged at connect');
  t.equal(target.requests.length, 0, 'nothing reached the private address');

  now += 1;
  await t.rejects(assertTargetsAllowed(job, policy, verdicts), { name: 'ValidationError', problems: [{ field: 'message.execution.baseUrl', message: /resolves to 127\.0\.0\.1/ }] }, 'after 30 s the name is looked up again, and refused at create');
  t.equal(lookups.length, 3, 'one lookup at create, one at connect, one after the verdict expired');
});
