// Chaos: the PostgreSQL server stopped and started again under a running service. While it is away
// the API answers 503 with a JSON error naming the cause, within the pool's connect timeout; the
// service reconnects on its own (same process) and every job completes.
import t from 'tap';
import { startChaosTarget } from '../helpers/chaos-target.ts';
import { chaosSetup, checkEnd, completedNow, countFinished, createJob, createJobs, report, restJobTo, sized, type PlannedJob } from '../helpers/chaos.ts';
import { ADMIN_AUTH } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';

const UNGROUPED = sized(300, 2000);
const GROUPS = sized(5, 20);
const PER_GROUP = sized(20, 50);
const DOWN_MS = sized(6_000, 15_000);
// src/db/pool.ts gives up connecting after 5 s; the answer must come by then, plus room for a loaded machine.
const CONNECT_TIMEOUT_MS = 5_000;
const ANSWER_SLACK_MS = 3_000;

const { sql, fleet, database } = await chaosSetup(t, { restartable: true });
const target = await startChaosTarget(() => ({ status: 200, delayMs: 100 }));
t.teardown(() => target.close());

async function timed(url: string, path: string, init: RequestInit = {}) {
  const started = Date.now();
  const response = await fetch(url + path, init);
  return { status: response.status, body: await response.json() as any, ms: Date.now() - started };
}

t.test('Postgres stopped and started mid-load: 503s naming the cause, then the same process carries on', async (t) => {
  const service = await fleet.start();
  const requests = [
    ...Array.from({ length: UNGROUPED }, () => restJobTo(target.url, '/plain', { timeoutMs: 2000 })),
    ...Array.from({ length: GROUPS * PER_GROUP }, (_, i) => restJobTo(target.url, `/g/${i % GROUPS}`, { group: `group-${i % GROUPS}`, timeoutMs: 2000 })),
  ];
  const jobs: PlannedJob[] = await createJobs(service.url, requests);
  await waitFor(async () => (await countFinished(sql, jobs)) >= jobs.length / 4, { timeoutMs: 60_000, what: 'a quarter of the jobs to finish' });

  const completedBeforeStop = await completedNow(sql);
  await database.stopServer();
  const stoppedAt = Date.now();
  const answers: Awaited<ReturnType<typeof timed>>[] = [];
  const healthAnswers: Awaited<ReturnType<typeof timed>>[] = [];
  const create = () => timed(service.url, '/v1/jobs/create', {
    method: 'POST', headers: { 'content-type': 'application/json', ...ADMIN_AUTH }, body: JSON.stringify(requests[0]),
  });
  while (Date.now() - stoppedAt < DOWN_MS) {
    answers.push(...await Promise.all([create(), create(), timed(service.url, `/v1/jobs/${jobs[0]!.id}`, { headers: ADMIN_AUTH })]));
    healthAnswers.push(await timed(service.url, '/healthz'));
  }
  t.same(healthAnswers.filter((health) => health.status !== 503 || health.body.error !== 'database_unreachable').slice(0, 5), [], '/healthz said the database does not answer, every time');
  t.equal(service.child.process.exitCode, null, 'the service did not exit while the database was away');
  const wrong = answers.filter((answer) => answer.status !== 503 || answer.body.error !== 'database_unavailable' || !/database/.test(answer.body.message));
  t.same(wrong.slice(0, 5), [], `every one of ${answers.length} API calls answered 503 database_unavailable`);
  const slowest = Math.max(...answers.map((answer) => answer.ms));
  t.ok(slowest <= CONNECT_TIMEOUT_MS + ANSWER_SLACK_MS, `no call hung: the slowest answered in ${slowest} ms`);
  t.match(answers[0], { body: { message: /nothing was stored/ } }, 'the error says nothing was stored');

  const deliveredWhileDown = new Set(target.deliveries.map((d) => d.jobId));
  await database.startServer();
  const restartedAt = Date.now();
  const completedAtRestart = await completedNow(sql);
  await waitFor(async () => (await fetch(service.url + '/healthz')).status === 200, { timeoutMs: 30_000, what: 'the service to reconnect' });
  const reconnectS = (Date.now() - restartedAt) / 1000;
  jobs.push(await createJob(service.url, requests[0]!));
  await waitFor(async () => (await countFinished(sql, jobs)) === jobs.length, { timeoutMs: 120_000, intervalMs: 500, what: 'every job to finish after the restart' });
  const finishedS = (Date.now() - restartedAt) / 1000;
  t.equal(fleet.children.length, 1, 'the same process, never restarted');

  // An attempt whose outcome could not be recorded while the database was away runs again.
  const mayRepeat = new Set([...deliveredWhileDown].filter((id) => !completedBeforeStop.has(id)));
  // As after a kill: an ungrouped job whose row was recorded completed while pg-boss's own
  // completion of its lane job could not reach the database any more keeps that lane job until its
  // claim expires; the reconciler may remove it as stray before the lane lets it go.
  const end = await checkEnd(t, { sql, target, fleet, jobs, mayRepeat, straysExplained: completedAtRestart });
  report(t, 'Postgres restarted mid-load', {
    jobs: jobs.length,
    databaseDownS: ((restartedAt - stoppedAt) / 1000).toFixed(1),
    apiCallsWhileDown: answers.length,
    all503: wrong.length === 0,
    slowest503Ms: slowest,
    healthyAgainAfterS: reconnectS.toFixed(1),
    allDoneAfterS: finishedS.toFixed(1),
    reachedTargetTwice: end.repeated,
    reconcilerStrayRemovals: end.repairs,
  });
});
