// What the reconciler's check costs PostgreSQL as the waiting jobs grow, straight after they arrived
// (statistics from the empty tables, as at a new deployment or a restart after a flood) and after
// ANALYZE: the invariant as one statement with the planner's defaults, against findViolations.
//
//   node bench/reconcile.ts [--sizes=5000,20000]
import pg from 'pg';
import { findViolations, INVARIANT_SQL } from '../src/jobs/invariant.ts';
import { jsonClient } from './http.ts';
import { openBenchServer } from './postgres.ts';
import { startServiceProcess } from './service-process.ts';
import { createBody } from './switchyard.ts';

const sizes = (process.argv.find((arg) => arg.startsWith('--sizes='))?.split('=')[1] ?? '5000,20000').split(',').map(Number);

async function timed(client: pg.Client, work: () => Promise<unknown>): Promise<number> {
  await client.query('BEGIN');
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  await client.query('ROLLBACK');
  return Math.round(ms * 10) / 10;
}

const server = await openBenchServer(false);
try {
  console.log('waiting jobs  statistics   one statement, defaults (ms)  findViolations (ms)');
  for (const size of sizes) {
    const url = await server.createDatabase('reconcile');
    const service = await startServiceProcess(url, { RUN_WORKERS: 'false', RECONCILE_INTERVAL_SECONDS: '86400' });
    const api = jsonClient(service.url, 4);
    for (let made = 0; made < size; made += 1_000) {
      const jobs = Array.from({ length: Math.min(1_000, size - made) }, (_, index) => createBody('http://127.0.0.1:9', made + index));
      const response = await api.post('/v1/jobs/batch', { jobs });
      if (response.status !== 202) throw new Error(`batch answered ${response.status}`);
    }
    api.close();
    await service.stop();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    for (const statistics of ['stale', 'analyzed']) {
      if (statistics === 'analyzed') await client.query('ANALYZE');
      const single = await timed(client, () => client.query(`SELECT * FROM (${INVARIANT_SQL}) AS v LIMIT 500`));
      const split = await timed(client, () => findViolations(client, 500));
      console.log(`${String(size).padStart(12)}  ${statistics.padEnd(11)}  ${String(single).padStart(28)}  ${String(split).padStart(19)}`);
    }
    await client.end();
  }
} finally {
  await server.close();
}
