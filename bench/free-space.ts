// Does a history the service itself wrote keep room its next jobs fit? N jobs (120,000 unless given),
// half the bench's small job and half the scale fill's kind, created through the API of a service with
// workers on and run, then a VACUUM, then the free space map (pg_freespacemap): per quarter of the
// heap, how many pages have room for the smallest row. docs/performance.md ("Scale") explains why it
// matters: a new row version goes wherever the map offers room.
//
//   node bench/free-space.ts [N]
import { jsonClient, startBenchTarget } from './http.ts';
import { openBenchServer, withClient } from './postgres.ts';
import { realisticCreateBody } from './scale-fill.ts';
import { startServiceProcess } from './service-process.ts';
import { runWithConcurrency, until } from './stats.ts';
import { createBody } from './switchyard.ts';
const N = Number(process.argv[2] ?? 120_000);
const server = await openBenchServer(false);
const target = await startBenchTarget();
try {
  const url = await server.createDatabase('free_space');
  const service = await startServiceProcess(url, { RUN_WORKERS: 'true' });
  const client = jsonClient(service.url, 16);
  const t0 = Date.now();
  await runWithConcurrency(N, 16, async (n) => {
    const r = await client.post('/v1/jobs/create', n % 2 ? createBody(target.url, n) : realisticCreateBody(target.url, n, 'bench'));
    if (r.status !== 202) throw new Error(`create ${r.status}`);
  });
  await withClient(url, (db) => until(async () => (await db.query(`SELECT count(*)::int AS n FROM jobs WHERE status = 'completed'`)).rows[0].n >= N, 600_000, 'all done', 1000));
  console.log(`${N} jobs created and run in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  client.close(); await service.stop();
  await withClient(url, async (db) => {
    await db.query('CREATE EXTENSION IF NOT EXISTS pg_freespacemap');
    await db.query('VACUUM jobs');
    const q = async (sql: string) => console.table((await db.query(sql)).rows);
    await q(`SELECT (pg_relation_size('jobs')/8192)::int AS pages, count(*)::int AS jobs, min(pg_column_size(j.*)) AS smallest_row, max(pg_column_size(j.*)) AS largest_row FROM jobs j`);
    await q(`WITH f AS (SELECT * FROM pg_freespace('jobs')), small AS (SELECT min(pg_column_size(j.*)) AS b FROM jobs j)
             SELECT width_bucket(blkno, 0, (SELECT max(blkno)+1 FROM f), 4) AS quarter, count(*) AS pages,
                    count(*) FILTER (WHERE avail >= (SELECT b FROM small)) AS room_for_smallest, avg(avail)::int AS avg_free
               FROM f GROUP BY 1 ORDER BY 1`);
  });
} finally { await target.close(); await server.close(); }
