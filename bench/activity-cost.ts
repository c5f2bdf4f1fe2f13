// What the per-minute counts of migration 0017 cost the hot path: the triggers on jobs and
// job_attempts that keep job_activity (the dashboard's last hour). The same round, on a fresh empty
// database each time, with the triggers on and with them disabled, alternating (off, on, off, on, …)
// so the machine's drift lands on both: creates one at a time (latency), `due` more at 16 in flight
// (rate, and CPU per create), then a service with workers executes them all (rate, CPU per job).
//
//   npm run bench:activity                        (5 rounds each)
//   npm run bench:activity -- --rounds=2 --due=5000
import { measureCreateAndExecute, type CreateExecuteResult } from './backlog.ts';
import { startBenchTarget } from './http.ts';
import { openBenchServer, withClient } from './postgres.ts';
import { median } from './stats.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => Number(args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const ROUNDS = option('rounds', 5);
const DUE = option('due', 10_000);
const LATENCY_CREATES = option('latency-creates', 2_000);
const TRIGGERS = [['jobs', 'jobs_activity_created'], ['jobs', 'jobs_activity_ended'], ['job_attempts', 'job_attempts_activity_retried']] as const;

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

const server = await openBenchServer(false);
const target = await startBenchTarget();
const rounds: { counting: boolean; result: CreateExecuteResult }[] = [];
try {
  for (let i = 0; i < ROUNDS * 2; i++) {
    const counting = i % 2 === 1;
    const databaseUrl = await server.createDatabase(`activity_${i}`);
    const result = await measureCreateAndExecute(server, target, databaseUrl, DUE, {
      latencyCreates: LATENCY_CREATES,
      // The service has migrated by now; an "off" round disables the three triggers before any job is written.
      beforeCreates: async () => {
        await withClient(databaseUrl, async (db) => {
          for (const [table, trigger] of TRIGGERS) await db.query(`ALTER TABLE ${table} ${counting ? 'ENABLE' : 'DISABLE'} TRIGGER ${trigger}`);
        });
      },
    });
    const counted = await withClient(databaseUrl, async (db) => (await db.query(`SELECT COALESCE(sum(created), 0)::int AS n FROM job_activity`)).rows[0].n);
    if (counting ? counted !== DUE + LATENCY_CREATES : counted !== 0) throw new Error(`round ${i}: job_activity counted ${counted} creates`);
    rounds.push({ counting, result });
    log(`${counting ? 'triggers on ' : 'triggers off'}: create p50/p99 ${result.createLatency.p50}/${result.createLatency.p99} ms, ` +
      `${result.createPerSecond} creates/s (${result.createCpu.process}+${result.createCpu.postgres} µs), ` +
      `execution ${result.executePerSecond} jobs/s (${result.executeCpu.process}+${result.executeCpu.postgres} µs)`);
  }
  const figures: [string, (r: CreateExecuteResult) => number][] = [
    ['create p50 (ms)', (r) => r.createLatency.p50],
    ['create p99 (ms)', (r) => r.createLatency.p99],
    ['creates/s at 16 in flight', (r) => r.createPerSecond],
    ['create: service CPU µs', (r) => r.createCpu.process],
    ['create: PostgreSQL CPU µs', (r) => r.createCpu.postgres ?? NaN],
    ['execution (jobs/s)', (r) => r.executePerSecond],
    ['execution: service CPU µs/job', (r) => r.executeCpu.process],
    ['execution: PostgreSQL CPU µs/job', (r) => r.executeCpu.postgres ?? NaN],
  ];
  console.log(`\ntriggers off vs on, ${ROUNDS} rounds each, alternating (medians; spread is min-max):`);
  console.log('| figure | off | on | on/off |\n|---|---|---|---|');
  for (const [label, value] of figures) {
    const off = rounds.filter((r) => !r.counting).map((r) => value(r.result));
    const on = rounds.filter((r) => r.counting).map((r) => value(r.result));
    const cell = (values: number[]) => `${median(values)} (${Math.min(...values)}-${Math.max(...values)})`;
    console.log(`| ${label} | ${cell(off)} | ${cell(on)} | ${(median(on) / median(off)).toFixed(2)} |`);
  }
} finally {
  await target.close();
  await server.close();
}
