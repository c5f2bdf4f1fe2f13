// The reconciler's check is linear in the waiting jobs whatever the planner's statistics say. A new
// database full of jobs that arrived faster than autovacuum analyzes them is the case that made its
// orphan half a nested loop over the lane's jobs: quadratic, 5.7 s at 20,000
// waiting jobs (`node bench/reconcile.ts`), at every start and timer tick.
import t from 'tap';
import { inTransaction } from '../src/db/pool.ts';
import { explainViolations, findViolations } from '../src/jobs/invariant.ts';
import { restJob, startTestService } from './helpers/service.ts';

const WAITING = 5_000;
const service = await startTestService(t, { env: { RUN_WORKERS: 'false' } });

interface PlanNode { 'Node Type': string; 'Join Type'?: string; Plans?: PlanNode[] }
const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];
const planOf = (explained: unknown) => nodes((explained as { Plan: PlanNode }[])[0]!.Plan);

t.test('with thousands of waiting jobs and no fresh statistics, the orphan check is a hash anti-join', async (t) => {
  for (let made = 0; made < WAITING; made += 1_000) {
    const jobs = Array.from({ length: 1_000 }, (_, index) => restJob('http://127.0.0.1:9', { idempotencyKey: `plan-${made + index}` }));
    const response = await service.post('/v1/jobs/batch', { jobs });
    t.equal(response.status, 202);
  }
  const { orphans, strays } = await inTransaction(service.pool, (client) => explainViolations(client));
  const orphanNodes = planOf(orphans);
  t.notOk(orphanNodes.some((node) => node['Node Type'] === 'Nested Loop'), 'no nested loop in the orphan half');
  t.ok(orphanNodes.some((node) => node['Node Type'] === 'Hash Join' && node['Join Type'] === 'Anti'), 'it is a hash anti-join');
  // The stray half keeps the planner's defaults: it starts from the lane's waiting jobs and probes jobs by key.
  t.ok(planOf(strays).some((node) => node['Node Type'] === 'Nested Loop'), 'the stray half probes jobs by key');
  t.same(await inTransaction(service.pool, (client) => findViolations(client, 100)), [], 'every waiting job has its lane job');
  // The settings were for the check alone: what the repairs run next in the transaction plans as usual.
  t.same(await inTransaction(service.pool, async (client) => {
    await findViolations(client, 1);
    return (await client.query(`SELECT current_setting('enable_nestloop') AS nestloop, current_setting('jit') AS jit`)).rows[0];
  }), { nestloop: 'on', jit: (await service.pool.query(`SELECT current_setting('jit') AS jit`)).rows[0].jit });
});
