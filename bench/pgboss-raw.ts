// Raw pg-boss 12 with no-op handlers, the yardstick for the Switchyard figures. It runs as its own
// process (started by run.ts) so its peak memory is its own: `node bench/pgboss-raw.ts <json>`
// prints one JSON line of results.
import { PgBoss } from 'pg-boss';
import { cpuMeter, type CpuPerJob } from './cpu.ts';
import { latencyOf, perSecond, runWithConcurrency, atRate, until, type Latency } from './stats.ts';

export interface PgBossInput {
  connectionString: string;
  sends: number;
  sendInFlight: number;
  inserts: number;
  insertBatch: number;
  latencyJobs: number;
  latencyRate: number;
  postmasterPid: number | undefined;
}

export interface PgBossResult {
  sendPerSecond: number;
  insertPerSecond: number;
  processPerSecond: number;
  latency: Latency;
  peakRssMb: number;
  sendCpu: CpuPerJob;
  insertCpu: CpuPerJob;
  processCpu: CpuPerJob;
}

// The settings PGBOSS.md found fastest for draining a backlog of ready jobs.
const BEST = { batchSize: 100, localConcurrency: 4, burstWhenBatchFull: true } as const;

async function main(input: PgBossInput): Promise<PgBossResult> {
  const boss = new PgBoss({ connectionString: input.connectionString, useListenNotify: true, schedule: false });
  boss.on('error', (error) => console.error(`pg-boss: ${error.message}`));
  await boss.start();
  for (const name of ['bench-send', 'bench-insert', 'bench-latency']) await boss.createQueue(name, { notify: true });

  let meter = cpuMeter(process.pid, input.postmasterPid, false);
  let started = performance.now();
  await runWithConcurrency(input.sends, input.sendInFlight, async () => {
    await boss.send('bench-send', {});
  });
  const sendPerSecond = perSecond(input.sends, performance.now() - started);
  const sendCpu = meter.perJob(input.sends);

  meter = cpuMeter(process.pid, input.postmasterPid, false);
  started = performance.now();
  for (let done = 0; done < input.inserts; done += input.insertBatch) {
    const count = Math.min(input.insertBatch, input.inserts - done);
    await boss.insert('bench-insert', Array.from({ length: count }, () => ({ data: {} })));
  }
  const insertPerSecond = perSecond(input.inserts, performance.now() - started);
  const insertCpu = meter.perJob(input.inserts);

  // Processing: the inserted backlog drained by no-op handlers, from the first handler call until
  // pg-boss has recorded the last completion.
  meter = cpuMeter(process.pid, input.postmasterPid, false);
  let firstHandled: number | undefined;
  let handled = 0;
  await boss.work('bench-insert', { ...BEST }, async (jobs) => {
    firstHandled ??= performance.now();
    handled += jobs.length;
  });
  await until(async () => handled >= input.inserts, 600_000, 'pg-boss to handle every job', 5);
  const pending = async () => {
    const { rows } = await boss.getDb().executeSql(
      `SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'bench-insert' AND state <> 'completed'`,
    ) as { rows: { n: number }[] };
    return rows[0]!.n;
  };
  await until(async () => (await pending()) === 0, 60_000, 'pg-boss to complete every job', 5);
  const processPerSecond = perSecond(input.inserts, performance.now() - firstHandled!);
  const processCpu = meter.perJob(input.inserts);

  // Latency: from `send` resolving to the handler starting, LISTEN/NOTIFY waking the worker.
  // A handler may start before the `send` call has resolved in this process; such a job counts as 0 ms.
  const sentAt = new Map<string, number>();
  const startedAt = new Map<string, number>();
  await boss.work('bench-latency', { ...BEST }, async (jobs) => {
    const now = performance.now();
    for (const job of jobs) startedAt.set(job.id, now);
  });
  await atRate(input.latencyJobs, input.latencyRate, async () => {
    const id = crypto.randomUUID();
    await boss.send('bench-latency', {}, { id });
    sentAt.set(id, performance.now());
  });
  await until(async () => startedAt.size >= input.latencyJobs, 30_000, 'pg-boss latency jobs');
  const samples = [...sentAt].map(([id, sent]) => Math.max(0, startedAt.get(id)! - sent));

  await boss.stop({ graceful: true, timeout: 5_000, close: true });
  return {
    sendPerSecond,
    insertPerSecond,
    processPerSecond,
    latency: latencyOf(samples),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    sendCpu,
    insertCpu,
    processCpu,
  };
}

if (import.meta.main) {
  const result = await main(JSON.parse(process.argv[2]!) as PgBossInput);
  console.log(JSON.stringify(result));
}
