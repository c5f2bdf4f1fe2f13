// Chaos in the SQS lane, with the service as a child process behind a proxy to fauxqs that can kill
// it at an exact step: between recording a message's outcome and deleting it, mid-run, and after a
// mode=both job was handed to the DB lane but before its message was deleted. Each message comes
// back after the visibility timeout; the record shows one completion, and nothing runs twice or
// stalls its group.
import t from 'tap';
import type { ChildService } from '../helpers/child.ts';
import { startChaosTarget } from '../helpers/chaos-target.ts';
import { chaosSetup, checkEnd, countFinished, createJob, report, restJobTo, type PlannedJob } from '../helpers/chaos.ts';
import { startSqsProxy, startTestSqs, type SqsCall } from '../helpers/sqs.ts';
import { waitFor } from '../helpers/wait.ts';

const VISIBILITY_SECONDS = 3;
const sqs = await startTestSqs(t);
const queue = await sqs.createFifoQueue('chaos.fifo');
const proxy = await startSqsProxy(sqs);
t.teardown(() => proxy.close());
const { sql, fleet } = await chaosSetup(t, {
  env: {
    AWS_SQS_QUEUE_URL: proxy.queueUrl(queue),
    AWS_ENDPOINT_URL_SQS: proxy.url,
    AWS_SQS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test-access-key',
    AWS_SECRET_ACCESS_KEY: 'test-secret-key',
    AWS_SQS_VISIBILITY_TIMEOUT_SECONDS: String(VISIBILITY_SECONDS),
  },
});

let running: ChildService | undefined;
// Keyed on the first delivery, not on attempt 1: a long poll a killed service left open may have
// taken a delivery, and the attempt number counts it.
const target = await startChaosTarget((delivery) => {
  const first = target.of(delivery.jobId).length === 1;
  if (delivery.path === '/kill-mid-run' && first) running!.process.kill('SIGKILL');
  if (delivery.path === '/fails-once' && first) return { status: 503 };
  return { status: 200 };
});
t.teardown(() => target.close());
const allJobs: PlannedJob[] = [];
const inFlightAtKills = new Set<string>();

interface Received { jobId: string; path: string; receiptHandle: string; receiveCount: number; at: number }
/** Every message the services received, from the proxy's record of ReceiveMessage answers. */
function received(): Received[] {
  return proxy.calls.filter((call) => call.action === 'ReceiveMessage').flatMap((call) => (call.response?.Messages ?? []).map((message: any) => {
    const envelope = JSON.parse(message.Body);
    return {
      jobId: envelope.jobId,
      path: envelope.message.lambdaProxyMessage.path,
      receiptHandle: message.ReceiptHandle,
      receiveCount: Number(message.Attributes?.ApproximateReceiveCount),
      at: call.at,
    };
  }));
}
const deleted = (message: Received) => proxy.calls.some((call) => call.action === 'DeleteMessage' && call.request.ReceiptHandle === message.receiptHandle && call.response !== undefined);

/** Kills the service on its first DeleteMessage of a message for `path`; that call, and any other it makes before it is gone, never reaches SQS. */
function killBeforeDeleting(path: string, child: ChildService): Promise<void> {
  return new Promise((resolve) => {
    let killed = false;
    proxy.intercept = (call: SqsCall) => {
      if (!killed && call.action === 'DeleteMessage' && received().find((m) => m.receiptHandle === call.request.ReceiptHandle)?.path === path) {
        killed = true;
        child.process.kill('SIGKILL');
        void child.exited.then(() => resolve());
      }
      return killed && child.process.exitCode === null && child.process.signalCode === null ? 'drop' : 'forward';
    };
  });
}

/**
 * The message's delivery to a service started at `since` or later, once that service deleted it. A
 * long poll the killed service had open may take one delivery on its way out (SQS cannot know the
 * caller is gone), so the receive count may be 3 rather than 2.
 */
async function redelivery(job: PlannedJob, since: number): Promise<Received> {
  // Visible again VISIBILITY_SECONDS after its last receive or extension, twice over for a delivery
  // taken by a dead long poll; the rest is the restart and a loaded machine.
  return waitFor(() => received().find((m) => m.jobId === job.id && m.at >= since && deleted(m)), { timeoutMs: 45_000, what: `job ${job.id}'s message to come back and be deleted` });
}

async function attemptsOf(job: PlannedJob) {
  return (await sql.query(`SELECT attempt, lane, outcome FROM job_attempts WHERE job_id = $1 ORDER BY id`, [job.id])).rows;
}

t.test('killed after recording the outcome, before deleting: the message comes back, is let go, one completion', async (t) => {
  t.teardown(() => fleet.killAll());
  const first = await fleet.start();
  const killed = killBeforeDeleting('/kill-before-delete', first.child);
  const job = await createJob(first.url, restJobTo(target.url, '/kill-before-delete', { mode: 'both' }));
  allJobs.push(job);
  await killed;
  t.match((await sql.query('SELECT status, attempts FROM jobs WHERE id = $1', [job.id])).rows[0], { status: 'completed', attempts: 1 }, 'the outcome was recorded before the kill');

  const killedAt = Date.now();
  await fleet.start();
  const again = await redelivery(job, killedAt);
  t.ok(again.receiveCount >= 2, `delivered again (receive count ${again.receiveCount})`);
  t.match(await attemptsOf(job), [{ lane: 'sqs', outcome: 'completed' }], 'one attempt, one completion on record');
  t.equal((await attemptsOf(job)).length, 1);
  t.equal(target.of(job.id).length, 1, 'the target was called once');
  report(t, 'SQS: killed between recording and deleting', { redeliveredAfterKillS: ((again.at - killedAt) / 1000).toFixed(1), targetCalls: target.of(job.id).length, completionsRecorded: 1 });
});

t.test('killed while the target runs the job: the message comes back and runs again, one completion', async (t) => {
  t.teardown(() => fleet.killAll());
  const first = await fleet.start();
  running = first.child;
  const job = await createJob(first.url, restJobTo(target.url, '/kill-mid-run', { mode: 'both' }));
  allJobs.push(job);
  inFlightAtKills.add(job.id);
  await first.child.exited;
  const killedAt = Date.now();
  await fleet.start();
  await waitFor(async () => (await countFinished(sql, [job])) === 1, { timeoutMs: 45_000, what: 'the job to complete after the restart' });
  const history = await attemptsOf(job);
  // The attempt is the receive count (the envelope says 1): one more for a delivery a dead long poll took.
  const [killed, rerun] = history.map((row) => row.attempt);
  t.ok(rerun! > killed!, `run again as attempt ${rerun}, after attempt ${killed} was killed`);
  t.same(history, [{ attempt: killed, lane: 'sqs', outcome: 'lost' }, { attempt: rerun, lane: 'sqs', outcome: 'completed' }], 'the lost attempt, then one completion');
  t.same(target.of(job.id).map((d) => d.attempt), [killed, rerun], 'the target saw the attempt in flight at the kill, then its successor');
  report(t, 'SQS: killed mid-run', { completedAfterKillS: ((Date.now() - killedAt) / 1000).toFixed(1), targetCalls: 2, completionsRecorded: 1 });
});

t.test('a mode=both message redelivered after its job went to the DB lane: let go, the group follows in order, nothing twice', async (t) => {
  t.teardown(() => fleet.killAll());
  const first = await fleet.start();
  const killed = killBeforeDeleting('/fails-once', first.child);
  // A DB-lane retry well after the redelivery, so the redelivery finds the job waiting in the DB lane.
  const head = await createJob(first.url, restJobTo(target.url, '/fails-once', { mode: 'both', group: 'g', retry: { baseDelaySeconds: 10 } }));
  const rest = [await createJob(first.url, restJobTo(target.url, '/g/2', { mode: 'both', group: 'g' })), await createJob(first.url, restJobTo(target.url, '/g/3', { mode: 'both', group: 'g' }))];
  const group = [head, ...rest];
  allJobs.push(...group);
  await killed;
  t.match((await sql.query('SELECT status, lane, attempts FROM jobs WHERE id = $1', [head.id])).rows[0], { status: 'retrying', lane: 'db' }, 'the hand-over committed before the kill');

  const killedAt = Date.now();
  await fleet.start();
  const again = await redelivery(head, killedAt);
  await waitFor(async () => (await countFinished(sql, group)) === group.length, { timeoutMs: 60_000, what: 'the group to complete' });
  const headRetry = target.of(head.id)[1]!;
  t.ok(again.at < headRetry.receivedAt, 'the message came back while its job waited in the DB lane');
  const failed = target.of(head.id)[0]!.attempt;
  t.same(await attemptsOf(head), [{ attempt: failed, lane: 'sqs', outcome: 'retrying' }, { attempt: failed + 1, lane: 'db', outcome: 'completed' }], 'the redelivery ran nothing: the next attempt ran in the DB lane');
  t.same(target.of(head.id).map((d) => d.attempt), [failed, failed + 1]);
  t.same(target.of(head.id).map((d) => d.status), [503, 200], 'the head: its failed attempt and its retry, nothing more');
  const order = group.map((job) => target.of(job.id).filter((d) => d.status === 200).map((d) => d.seq));
  t.same(order.map((seqs) => seqs.length), [1, 1, 1], 'each job of the group succeeded once');
  t.ok(order[0]![0]! < order[1]![0]! && order[1]![0]! < order[2]![0]!, 'in creation order, the head first');
  const { rows: lanes } = await sql.query('SELECT lane FROM jobs WHERE id = ANY($1::uuid[]) ORDER BY id', [rest.map((job) => job.id)]);
  t.same(lanes, [{ lane: 'db' }, { lane: 'db' }], 'the later jobs followed their group into the DB lane');
  report(t, 'SQS: mode=both redelivered after the hand-over', { redeliveredBeforeDbRetry: true, groupInOrder: true, ranTwice: 0 });

  await checkEnd(t, { sql, target, fleet, jobs: allJobs, mayRepeat: inFlightAtKills });
});
