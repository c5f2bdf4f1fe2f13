// The shortcuts the hot paths take for speed keep the promises of the slow ones: cached API keys
// still stop the moment they are revoked (even by hand-written SQL, even while the change listener
// is down), a create in one statement still makes exactly one lane job, a lane job completed after
// its row is never run twice, and pg-boss's claim does not run on stale planner statistics.
import t from 'tap';
import { AppKeys } from '../src/apps/app-keys.ts';
import { STANDARD_QUEUE } from '../src/lanes/db-lane.ts';
import { restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const service = await startTestService(t);
const target = await startTarget();
t.teardown(() => target.close());
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const appJob = (overrides: Record<string, unknown> = {}) => {
  const { appId: _fromTheKey, ...body } = restJob(target.url, { delaySeconds: 3600, ...overrides });
  return body;
};

t.test('a cached key stops working once revoked by hand-written SQL', async (t) => {
  const { key, keyId } = await new AppKeys(service.pool).createAppKey('cache-sql');
  for (let i = 0; i < 3; i++) t.equal((await service.post('/v1/jobs/create', appJob(), bearer(key))).status, 202, 'the key works (and is now cached)');
  await service.pool.query('UPDATE api_keys SET revoked_at = now() WHERE key_id = $1', [keyId]);
  // The trigger's NOTIFY travels to the service's listener; allow it a moment, no more.
  const refused = await waitFor(async () => {
    const response = await service.post('/v1/jobs/create', appJob(), bearer(key));
    return response.status === 401 ? response : undefined;
  }, { timeoutMs: 2_000, intervalMs: 20, what: 'the revoked key to be refused' });
  t.match(refused.body.message, /unknown or revoked/);
});

t.test('while the change listener is down nothing is served from the cache', async (t) => {
  const { key, keyId } = await new AppKeys(service.pool).createAppKey('cache-down');
  t.equal((await service.post('/v1/jobs/create', appJob(), bearer(key))).status, 202);
  const { rows } = await service.pool.query(
    `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = 'switchyard-changes' AND datname = current_database()`,
  );
  t.equal(rows.length, 1, 'one listener connection');
  // Revoked in the window where no NOTIFY can reach the service.
  await waitFor(() => service.logs.some((line) => line.includes('change listener: connection lost')), { timeoutMs: 5_000, what: 'the loss to be noticed' });
  await service.pool.query('UPDATE api_keys SET revoked_at = now() WHERE key_id = $1', [keyId]);
  t.equal((await service.post('/v1/jobs/create', appJob(), bearer(key))).status, 401, 'refused at once: the lookup went to the database');
  // The listener comes back on its own, and a key made after that is usable (and cached) again.
  await waitFor(async () => (await service.pool.query(
    `SELECT 1 FROM pg_stat_activity WHERE application_name = 'switchyard-changes' AND datname = current_database()`,
  )).rows.length === 1, { timeoutMs: 5_000, what: 'the listener to reconnect' });
  const again = await new AppKeys(service.pool).createAppKey('cache-back');
  t.equal((await service.post('/v1/jobs/create', appJob(), bearer(again.key))).status, 202);
  // Cached shows only when the database has changed behind the cache: a key revoked with the
  // triggers off (no NOTIFY) still works while its lookup is served from the cache. The connection
  // is there before its LISTEN is, so each try uses a fresh key, until one is cached.
  await withoutChangeTriggers(t);
  let tries = 0;
  await waitFor(async () => {
    const probe = await new AppKeys(service.pool).createAppKey(`cache-back-${++tries}`);
    t.equal((await service.post('/v1/jobs/create', appJob(), bearer(probe.key))).status, 202);
    await service.pool.query('UPDATE api_keys SET revoked_at = now() WHERE key_id = $1', [probe.keyId]);
    return (await service.post('/v1/jobs/create', appJob(), bearer(probe.key))).status === 202;
  }, { timeoutMs: 5_000, intervalMs: 100, what: 'a key lookup to be served from the cache again' });
  t.pass(`after the reconnect, lookups are cached again (try ${tries})`);
});

t.test('a create is one row and one lane job; a repeated key adds neither', async (t) => {
  const body = restJob(target.url, { idempotencyKey: 'one-statement', delaySeconds: 3600 });
  const first = await service.post('/v1/jobs/create', body);
  const again = await Promise.all([1, 2, 3].map(() => service.post('/v1/jobs/create', body)));
  t.equal(first.status, 202);
  for (const response of again) t.same([response.status, response.body.id], [200, first.body.id]);
  const { rows } = await service.pool.query(
    `SELECT (SELECT count(*)::int FROM jobs WHERE idempotency_key = 'one-statement') AS rows,
            (SELECT count(*)::int FROM pgboss.job WHERE id = $1) AS lane_jobs,
            (SELECT count(*)::int FROM pgboss.job b WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = b.id)) AS orphans`,
    [first.body.id],
  );
  t.same(rows[0], { rows: 1, lane_jobs: 1, orphans: 0 });
});

t.test('a lane job whose row already finished is let go without running', async (t) => {
  // As after a crash between recording the outcome and pg-boss completing the lane job.
  const created = await service.post('/v1/jobs/create', restJob(target.url, { delaySeconds: 3600 }));
  t.equal(created.status, 202);
  const id = created.body.id as string;
  await service.pool.query(`UPDATE jobs SET status = 'completed', completed_at = now() WHERE id = $1`, [id]);
  const before = target.requests.length;
  await service.pool.query(`UPDATE pgboss.job SET start_after = now() WHERE name = $1 AND id = $2`, [STANDARD_QUEUE, id]);
  await waitFor(async () => (await service.pool.query(`SELECT state FROM pgboss.job WHERE id = $1`, [id])).rows[0]?.state === 'completed',
    { what: 'the lane job to be completed' });
  t.equal(target.requests.length, before, 'the target was not called');
  t.equal((await service.job(id))!.status, 'completed');
});

t.test("the lane analyzes pg-boss's job table after a burst of inserts", async (t) => {
  const table = (await service.pool.query(`SELECT table_name FROM pgboss.queue WHERE name = $1`, [STANDARD_QUEUE])).rows[0].table_name;
  const jobs = Array.from({ length: 1_000 }, () => restJob(target.url, { delaySeconds: 3600 }));
  // The burst is made while the test holds the lane's lock for analyzing this table, as another
  // worker process analyzing it would. Otherwise the lane's 1 s check could analyze between two
  // batches on a slow machine, and then not again for 30 s: the ANALYZE that follows the release
  // sees the whole burst.
  const holder = await service.pool.connect();
  t.teardown(() => holder.release());
  await holder.query('BEGIN');
  await holder.query(`SELECT pg_advisory_xact_lock(hashtext('switchyard analyze ' || ('pgboss.' || quote_ident($1))::regclass::text))`, [table]);
  for (let i = 0; i < 3; i++) t.equal((await service.post('/v1/jobs/batch', { jobs })).status, 202);
  t.equal((await service.pool.query(
    `SELECT last_analyze FROM pg_stat_user_tables WHERE schemaname = 'pgboss' AND relname = $1`, [table],
  )).rows[0].last_analyze, null, 'no ANALYZE while another process holds the lock');
  await holder.query('COMMIT');
  const analyzed = await waitFor(async () => (await service.pool.query(
    `SELECT last_analyze, n_mod_since_analyze FROM pg_stat_user_tables WHERE schemaname = 'pgboss' AND relname = $1 AND last_analyze IS NOT NULL`,
    [table],
  )).rows[0], { timeoutMs: 10_000, what: 'an ANALYZE by the lane' });
  t.ok(analyzed.last_analyze instanceof Date, 'ANALYZE ran (autovacuum would set last_autoanalyze instead)');
  const { rows } = await service.pool.query(`SELECT reltuples FROM pg_class WHERE oid = ('pgboss.' || quote_ident($1))::regclass`, [table]);
  t.ok(rows[0].reltuples >= 3_000, `the planner now counts the waiting jobs (${rows[0].reltuples})`);
});

t.test('answers are cached, and AUTH_CACHE_SECONDS bounds a cache whose NOTIFY never comes', async (t) => {
  // As behind a pooler that drops LISTEN/NOTIFY: the change is made with the trigger off.
  const short = await startTestService(t, { database: service.database, env: { AUTH_CACHE_SECONDS: '1', RUN_WORKERS: 'false' } });
  // The triggers go off before the key is made: the key's own NOTIFY, arriving after the first
  // lookup was cached, would drop the cache and make this test depend on how fast it travels.
  await withoutChangeTriggers(t);
  const { key, keyId } = await new AppKeys(service.pool).createAppKey('cache-silent');
  t.equal((await service.post('/v1/jobs/create', appJob(), bearer(key))).status, 202);
  const cachedBy = Date.now();
  t.equal((await short.post('/v1/jobs/create', appJob(), bearer(key))).status, 202);
  await service.pool.query('UPDATE api_keys SET revoked_at = now() WHERE key_id = $1', [keyId]);
  t.equal((await service.post('/v1/jobs/create', appJob(), bearer(key))).status, 202, 'the default cache still answers: the lookup was cached');
  await waitFor(async () => (await short.post('/v1/jobs/create', appJob(), bearer(key))).status === 401, { timeoutMs: 5_000, intervalMs: 100, what: 'the 1 s cache to run out' });
  // The answer was cached at most 1 s before it is dropped; a poll every 100 ms sees that, and 1 s
  // of slack covers a loaded machine.
  const stoppedAfter = Date.now() - cachedBy;
  t.ok(stoppedAfter <= 1_000 + 100 + 1_000, `with AUTH_CACHE_SECONDS=1 the revoked key stopped ${stoppedAfter} ms after its lookup was cached`);
});

/** Turns off the NOTIFY triggers on api_keys and apps for the rest of the test: as behind a pooler that drops LISTEN/NOTIFY. */
async function withoutChangeTriggers(t: { teardown(fn: () => unknown): void }): Promise<void> {
  await service.pool.query('ALTER TABLE api_keys DISABLE TRIGGER api_keys_changed');
  await service.pool.query('ALTER TABLE apps DISABLE TRIGGER apps_changed');
  t.teardown(async () => {
    await service.pool.query('ALTER TABLE api_keys ENABLE TRIGGER api_keys_changed');
    await service.pool.query('ALTER TABLE apps ENABLE TRIGGER apps_changed');
  });
}
