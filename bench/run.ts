// `npm run bench [-- --quick] [-- --backlog[=N,N…]] [-- --statements]`: Switchyard and raw pg-boss 12
// side by side, in one run, on one PostgreSQL server. Prints a table, then one JSON line.
// See docs/performance.md for the method and what bounds each figure.
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchBacklog, type BacklogResult } from './backlog.ts';
import { startBenchTarget } from './http.ts';
import type { PgBossInput, PgBossResult } from './pgboss-raw.ts';
import { openBenchServer, type BenchServer } from './postgres.ts';
import { topStatements } from './statements.ts';
import { benchSwitchyard, type SwitchyardResult } from './switchyard.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const backlogArg = args.find((arg) => arg.startsWith('--backlog'));
const backlogSizes = backlogArg === undefined ? [] : backlogArg.includes('=')
  ? backlogArg.split('=')[1]!.split(',').map(Number)
  : [0, 100_000, 1_000_000];
const showStatements = args.includes('--statements');
const durable = args.includes('--durable');
// Node flags for the service process, e.g. --service-node-arg=--cpu-prof
const nodeArgs = args.filter((arg) => arg.startsWith('--service-node-arg=')).map((arg) => arg.slice('--service-node-arg='.length));

const size = quick
  ? { creates: 5_000, batchRequests: 5, latencyJobs: 200, sends: 3_000, inserts: 20_000 }
  : { creates: 20_000, batchRequests: 20, latencyJobs: 500, sends: 20_000, inserts: 20_000 };

async function runPgBoss(server: BenchServer): Promise<PgBossResult> {
  const input: PgBossInput = {
    connectionString: await server.createDatabase('pgboss_bench'),
    sends: size.sends,
    sendInFlight: 8,
    inserts: size.inserts,
    insertBatch: 1_000,
    latencyJobs: size.latencyJobs,
    latencyRate: 50,
    postmasterPid: server.postmasterPid,
  };
  const script = fileURLToPath(new URL('./pgboss-raw.ts', import.meta.url));
  const child = spawn(process.execPath, [script, JSON.stringify(input)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`pg-boss bench exited with ${code}: ${output}`);
  return JSON.parse(output.trim().split('\n').at(-1)!) as PgBossResult;
}

async function printStatements(server: BenchServer): Promise<void> {
  console.log('\nTop statements by total execution time (pg_stat_statements):');
  console.table(await topStatements(server, ['switchyard%', 'pgboss%']));
}

const ratio = (ours: number | string, theirs: number) => typeof ours === 'number' ? Math.round((ours / theirs) * 100) / 100 : null;

function report(switchyard: SwitchyardResult, boss: PgBossResult, backlog: BacklogResult[], server: string) {
  const sy = switchyard;
  const rows: [string, string, string, string][] = [
    ['single create, 16 in flight / send, 8 in flight (jobs/s)', String(sy.createPerSecond), String(boss.sendPerSecond), String(ratio(sy.createPerSecond, boss.sendPerSecond))],
    ['batch create, 1,000 per request / insert (jobs/s)', String(sy.batchPerSecond), String(boss.insertPerSecond), String(ratio(sy.batchPerSecond, boss.insertPerSecond) ?? 'n/a')],
    [`execution, ${sy.executed} rest-api jobs / no-op processing (jobs/s)`, String(sy.executePerSecond), String(boss.processPerSecond), String(ratio(sy.executePerSecond, boss.processPerSecond))],
    ['latency p50 (ms)', String(sy.latency.p50), String(boss.latency.p50), String(ratio(sy.latency.p50, boss.latency.p50))],
    ['latency p95 (ms)', String(sy.latency.p95), String(boss.latency.p95), String(ratio(sy.latency.p95, boss.latency.p95))],
    ['latency p99 (ms)', String(sy.latency.p99), String(boss.latency.p99), String(ratio(sy.latency.p99, boss.latency.p99))],
    ['peak RSS of the process (MB)', String(sy.peakRssMb), String(boss.peakRssMb), String(ratio(sy.peakRssMb, boss.peakRssMb))],
  ];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...[['figure', 'switchyard', 'pg-boss', 'ratio'][i]!.length, ...rows.map((row) => row[i]!.length)]));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  console.log(`\nSwitchyard vs raw pg-boss 12 (${quick ? 'quick' : 'full'} run, ${server})`);
  console.log(line(['figure', 'switchyard', 'pg-boss', 'ratio']));
  for (const row of rows) console.log(line(row));
  const cpu = (c: { process: number; postgres: number | null; bench: number | null }, who: string) =>
    `${who} ${c.process} µs` + (c.postgres === null ? '' : `, postgres ${c.postgres} µs`) + (c.bench === null ? '' : `, bench process (client/target) ${c.bench} µs`);
  console.log('\nCPU per job (what each process spent, so the shared machine\'s load does not hide the cost):');
  console.log(`  create:       ${cpu(sy.createCpu, 'switchyard')}`);
  console.log(`  send:         ${cpu(boss.sendCpu, 'pg-boss')}`);
  if (sy.batchCpu) console.log(`  batch create: ${cpu(sy.batchCpu, 'switchyard')}`);
  console.log(`  insert:       ${cpu(boss.insertCpu, 'pg-boss')}`);
  console.log(`  execution:    ${cpu(sy.executeCpu, 'switchyard')}`);
  console.log(`  processing:   ${cpu(boss.processCpu, 'pg-boss')}`);
  console.log(`  load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} cores`);
  if (backlog.length) {
    console.log('\nHow cost grows with jobs already waiting (delayed, not due):');
    console.log('waiting     execution jobs/s  service µs/job  postgres µs/job  create p50 ms  create p99 ms');
    for (const b of backlog) {
      console.log([
        String(b.waiting).padEnd(10), String(b.executePerSecond).padStart(16), String(b.executeCpu.process).padStart(14),
        String(b.executeCpu.postgres ?? 'n/a').padStart(15), String(b.createLatency.p50).padStart(13), String(b.createLatency.p99).padStart(13),
      ].join('  '));
    }
  }
  console.log(JSON.stringify({
    mode: quick ? 'quick' : 'full',
    switchyard: sy,
    pgBoss: boss,
    ratios: {
      create: ratio(sy.createPerSecond, boss.sendPerSecond),
      batch: ratio(sy.batchPerSecond, boss.insertPerSecond),
      execution: ratio(sy.executePerSecond, boss.processPerSecond),
      latencyP50: ratio(sy.latency.p50, boss.latency.p50),
      latencyP95: ratio(sy.latency.p95, boss.latency.p95),
      latencyP99: ratio(sy.latency.p99, boss.latency.p99),
      peakRss: ratio(sy.peakRssMb, boss.peakRssMb),
    },
    backlog,
  }));
}

const server = await openBenchServer(durable);
const target = await startBenchTarget();
try {
  const boss = await runPgBoss(server);
  const switchyard = await benchSwitchyard({
    server,
    target,
    creates: size.creates,
    createInFlight: 16,
    batchRequests: size.batchRequests,
    batchSize: 1_000,
    latencyJobs: size.latencyJobs,
    latencyRate: 50,
    serviceEnv: {},
    nodeArgs,
  });
  const backlog: BacklogResult[] = [];
  for (const waiting of backlogSizes) backlog.push(await benchBacklog(server, target, waiting, quick ? 2_000 : 5_000));
  if (showStatements) await printStatements(server);
  report(switchyard, boss, backlog, server.description);
} finally {
  await target.close();
  await server.close();
}
