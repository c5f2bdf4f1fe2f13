// Jobs of one message group run one at a time in creation order; groups run in parallel.
import t from 'tap';
import { restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const GROUPS = 10;
const PER_GROUP = 20;

t.test('10 groups x 20 jobs: in order per group, one at a time, groups in parallel', async (t) => {
  const service = await startTestService(t, { env: { RETRY_BASE_DELAY_SECONDS: '1', RETRY_MAX_DELAY_SECONDS: '1' } });
  const inFlight = new Map<string, number>();
  let maxPerGroup = 0;
  let total = 0;
  let maxTotal = 0;
  const received = new Map<string, number[]>();
  const target = await startTarget(async (request) => {
    const { group, seq } = JSON.parse(request.body.toString());
    inFlight.set(group, (inFlight.get(group) ?? 0) + 1);
    total++;
    maxPerGroup = Math.max(maxPerGroup, inFlight.get(group)!);
    maxTotal = Math.max(maxTotal, total);
    // The 7th job of every group fails once: a retrying job must hold its group.
    const failOnce = seq === 6 && !(received.get(group) ?? []).includes(6);
    received.set(group, [...(received.get(group) ?? []), seq]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    inFlight.set(group, inFlight.get(group)! - 1);
    total--;
    return { status: failOnce ? 503 : 200 };
  });
  t.teardown(() => target.close());

  await Promise.all(Array.from({ length: GROUPS }, async (_, g) => {
    for (let seq = 0; seq < PER_GROUP; seq++) {
      const response = await service.post('/v1/jobs/create', restJob(target.url, {
        messageGroupId: `group-${g}`,
        retry: { maxAttempts: 3, baseDelaySeconds: 1, maxDelaySeconds: 1 },
      }, { body: JSON.stringify({ group: `group-${g}`, seq }) }));
      t.equal(response.status, 202);
    }
  }));

  await waitFor(async () => {
    const { rows } = await service.pool.query("SELECT count(*)::int AS n FROM jobs WHERE status = 'completed'");
    return rows[0].n === GROUPS * PER_GROUP;
  }, { timeoutMs: 60_000, what: 'every job to complete' });

  let outOfOrder = 0;
  for (let g = 0; g < GROUPS; g++) {
    const seqs = received.get(`group-${g}`)!;
    const expected = Array.from({ length: PER_GROUP }, (_, i) => i);
    expected.splice(7, 0, 6); // the 7th job ran twice, before any later job
    if (JSON.stringify(seqs) !== JSON.stringify(expected)) outOfOrder++;
  }
  t.equal(outOfOrder, 0, 'no group ran out of order, retries included');
  t.equal(maxPerGroup, 1, 'at most one job of a group ran at a time');
  t.ok(maxTotal > 1, `groups ran in parallel (up to ${maxTotal} at once)`);
});

t.test('a dead-lettered job releases its group', async (t) => {
  const service = await startTestService(t);
  const target = await startTarget((request) => ({ status: request.body.toString() === 'poison' ? 503 : 200 }));
  t.teardown(() => target.close());
  // One attempt only: its retryable 503 is its last, so the job is dead-lettered, not retried.
  const poison = await service.post('/v1/jobs/create', restJob(target.url, { messageGroupId: 'g', retry: { maxAttempts: 1 } }, { body: 'poison' }));
  const next = await service.post('/v1/jobs/create', restJob(target.url, { messageGroupId: 'g' }, { body: 'next' }));
  const last = await service.post('/v1/jobs/create', restJob(target.url, { messageGroupId: 'g' }, { body: 'last' }));
  const dead = await service.waitForStatus(poison.body.id, ['dead_lettered', 'failed', 'completed']);
  t.equal(dead.status, 'dead_lettered');
  t.equal(dead.last_error, 'HTTP 503');
  await service.waitForStatus(next.body.id, 'completed');
  await service.waitForStatus(last.body.id, 'completed');
  t.same(target.requests.map((r) => r.body.toString()), ['poison', 'next', 'last'], 'the later jobs ran after it, in order');
});

t.test('a failed job releases its group', async (t) => {
  const service = await startTestService(t);
  const target = await startTarget((request) => ({ status: request.body.toString() === 'poison' ? 400 : 200 }));
  t.teardown(() => target.close());
  const poison = await service.post('/v1/jobs/create', restJob(target.url, { messageGroupId: 'g' }, { body: 'poison' }));
  const next = await service.post('/v1/jobs/create', restJob(target.url, { messageGroupId: 'g' }, { body: 'next' }));
  await service.waitForStatus(poison.body.id, 'failed');
  await service.waitForStatus(next.body.id, 'completed');
  t.same(target.requests.map((r) => r.body.toString()), ['poison', 'next']);
});
