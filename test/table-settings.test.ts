// The autovacuum settings of the high-churn tables (docs/operations.md, "Table health"): `jobs` gets
// them from migration 0015, pg-boss's job table from the DB lane at every start that maintains it,
// since pg-boss creates that table only after the migrations have run on a new database.
import t from 'tap';
import { LANE_TABLE_SETTINGS } from '../src/lanes/db-lane.ts';
import { createTestDatabase } from './helpers/database.ts';
import { startTestService } from './helpers/service.ts';

const database = await createTestDatabase();
t.teardown(() => database.close());

const expected = Object.entries(LANE_TABLE_SETTINGS).map(([name, value]) => `${name}=${value}`);

async function reloptions(service: { pool: { query(sql: string): Promise<{ rows: { table: string; reloptions: string[] | null }[] }> } }) {
  const { rows } = await service.pool.query(
    `SELECT oid::regclass::text AS table, reloptions FROM pg_class WHERE oid IN ('jobs'::regclass, 'pgboss.job_common'::regclass)`,
  );
  return Object.fromEntries(rows.map((row) => [row.table, row.reloptions ?? []]));
}

t.test('a new database: jobs from the migration, the lane table once pg-boss has made it', async (t) => {
  const service = await startTestService(t, { database });
  const options = await reloptions(service);
  t.match(options.jobs, [/^autovacuum_vacuum_scale_factor=/], 'jobs has its settings');
  for (const setting of expected) t.ok(options['pgboss.job_common']!.includes(setting), `pgboss.job_common has ${setting}`);
  // What a table lost (a hand-made RESET, a restore) comes back at the next start.
  await service.pool.query(`ALTER TABLE pgboss.job_common RESET (${Object.keys(LANE_TABLE_SETTINGS).join(', ')})`);
});

t.test('the next start puts them back, and leaves a table that has them as it is', async (t) => {
  const service = await startTestService(t, { database });
  const options = await reloptions(service);
  for (const setting of expected) t.ok(options['pgboss.job_common']!.includes(setting), `pgboss.job_common has ${setting} again`);
  t.equal(options['pgboss.job_common']!.length, expected.length, 'each setting once');
});
