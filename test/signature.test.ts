// Signed outgoing requests: a receiver can tell a Switchyard call from a forgery. Unit checks of
// verifySignature (good, tampered, stale, rotated), then real requests from a running service.
import t from 'tap';
import { AppKeys } from '../src/apps/app-keys.ts';
import { signRequest, verifySignature } from '../src/signature.ts';
import { restJob, startTestService } from './helpers/service.ts';
import { startTarget, type ReceivedRequest } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const request = { method: 'POST', url: 'https://receiver.example/hooks/order?id=7', body: '{"order":7}' };
const at = new Date('2026-11-29T12:00:00Z');
const later = (seconds: number) => new Date(at.getTime() + seconds * 1000);

t.test('verifySignature: good, tampered, stale, malformed', async (t) => {
  const header = signRequest(request, ['whsec_current'], at);
  t.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);
  t.match(verifySignature(header, request, { secret: 'whsec_current', now: at }), { ok: true });
  t.match(verifySignature(header, request, { secret: 'whsec_current', now: later(299) }), { ok: true }, 'inside the tolerance');
  t.same(verifySignature(header, { ...request, body: '{"order":8}' }, { secret: 'whsec_current', now: at }), { ok: false, reason: 'mismatch' }, 'tampered body');
  t.same(verifySignature(header, { ...request, url: request.url.replace('id=7', 'id=8') }, { secret: 'whsec_current', now: at }), { ok: false, reason: 'mismatch' }, 'tampered URL');
  t.same(verifySignature(header, { ...request, method: 'DELETE' }, { secret: 'whsec_current', now: at }), { ok: false, reason: 'mismatch' }, 'tampered method');
  t.same(verifySignature(header, request, { secret: 'whsec_other', now: at }), { ok: false, reason: 'mismatch' }, 'another secret');
  t.same(verifySignature(header, request, { secret: 'whsec_current', now: later(301) }), { ok: false, reason: 'stale' }, 'a replay after the tolerance');
  t.same(verifySignature(header, request, { secret: 'whsec_current', now: later(-301) }), { ok: false, reason: 'stale' }, 'from the future');
  t.same(verifySignature(header, request, { secret: 'whsec_current', now: later(60), toleranceSeconds: 30 }), { ok: false, reason: 'stale' }, 'a tighter tolerance');
  const forgedTime = header.replace(/^t=\d+/, `t=${Math.floor(later(200).getTime() / 1000)}`);
  t.same(verifySignature(forgedTime, request, { secret: 'whsec_current', now: later(200) }), { ok: false, reason: 'mismatch' }, 'a moved timestamp breaks the signature');
  t.same(verifySignature(undefined, request, { secret: 'whsec_current' }), { ok: false, reason: 'missing' });
  t.same(verifySignature('v1=abc', request, { secret: 'whsec_current', now: at }), { ok: false, reason: 'malformed' });
  t.same(verifySignature('t=1,v1=' + 'z'.repeat(64), request, { secret: 'whsec_current', now: at }), { ok: false, reason: 'malformed' });
});

t.test('verifySignature: a rotated secret', async (t) => {
  const during = signRequest(request, ['whsec_old', 'whsec_new'], at);
  t.match(during, /^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/, 'one signature per secret while rotating');
  t.match(verifySignature(during, request, { secret: 'whsec_old', now: at }), { ok: true }, 'a receiver still on the old secret');
  t.match(verifySignature(during, request, { secret: 'whsec_new', now: at }), { ok: true }, 'a receiver already on the new one');
  const after = signRequest(request, ['whsec_new'], at);
  t.match(verifySignature(after, request, { secret: ['whsec_old', 'whsec_new'], now: at }), { ok: true }, 'a receiver accepting both');
  t.same(verifySignature(after, request, { secret: 'whsec_old', now: at }), { ok: false, reason: 'mismatch' }, 'the retired secret no longer verifies');
});

t.test('every rest-api request a running service sends is signed with the app secret', async (t) => {
  const service = await startTestService(t);
  const target = await startTarget();
  t.teardown(() => target.close());
  const keys = new AppKeys(service.pool);
  const verify = (received: ReceivedRequest, secret: string | string[]) => verifySignature(received.headers['switchyard-signature'], {
    method: received.method, url: target.url + received.url, body: received.body,
  }, { secret });
  const send = async (path: string, extra: Record<string, unknown> = {}) => {
    const created = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'signed-app' }, { path, ...extra }));
    await service.waitForStatus(created.body.id, 'completed');
    return target.requests.find((received) => received.headers['switchyard-job-id'] === created.body.id)!;
  };
  /**
   * A rotation made here reaches the service's cached secrets by NOTIFY, asynchronously: jobs are
   * sent until one is signed as `signedAsChanged` says. The first such request must arrive within
   * 2 s (milliseconds for the NOTIFY, the rest slack for a loaded machine), far inside the 60 s
   * AUTH_CACHE_SECONDS that would otherwise bring the change.
   */
  const sendOnceChanged = async (path: string, signedAsChanged: (received: ReceivedRequest) => boolean) => {
    const changedAt = Date.now();
    let tries = 0;
    const received = await waitFor(async () => {
      const sent = await send(`${path}-${++tries}`);
      return signedAsChanged(sent) ? sent : undefined;
    }, { timeoutMs: 10_000, intervalMs: 20, what: `a request to ${path} signed after the change` });
    const tookMs = received.receivedAt - changedAt;
    t.ok(tookMs <= 2_000, `${path}: signed after the change ${tookMs} ms after it was made (${tries} ${tries === 1 ? 'try' : 'tries'})`);
    return received;
  };

  const first = await send('/first', { queryStringParameters: { q: 'a b' } });
  const [current] = (await keys.signingSecrets(['signed-app'])).get('signed-app')!;
  t.match(first.headers['switchyard-signature'], /^t=\d+,v1=[0-9a-f]{64}$/);
  t.match(verify(first, current!), { ok: true }, 'verifies with the app secret over method, URL and body');
  t.same(verify({ ...first, body: Buffer.from('{"hello":"mallory"}') }, current!), { ok: false, reason: 'mismatch' }, 'a tampered body does not');
  t.same(verify(first, 'whsec_guess'), { ok: false, reason: 'mismatch' });

  const next = (await keys.startRotation('signed-app'))!;
  const during = await sendOnceChanged('/during', (received) => verify(received, next).ok);
  t.match(verify(during, current!), { ok: true }, 'during a rotation the old secret verifies');
  t.match(verify(during, next), { ok: true }, 'and so does the new one');
  t.ok(await keys.finishRotation('signed-app'));
  const after = await sendOnceChanged('/after', (received) => !verify(received, current!).ok);
  t.match(verify(after, next), { ok: true });
  t.same(verify(after, current!), { ok: false, reason: 'mismatch' }, 'after the rotation the old secret is retired');

  const forged = await send('/forged', { headers: { 'content-type': 'application/json', 'Switchyard-Signature': 't=1,v1=' + '0'.repeat(64) } });
  t.match(verify(forged, next), { ok: true }, 'a signature header in the job is replaced by the real one');

  const view = await service.get(`/v1/jobs?appId=signed-app`);
  const text = JSON.stringify(view.body) + service.logRecords.join('\n');
  t.notOk(text.includes(current!) || text.includes(next), 'no signing secret in responses or logs');
});
