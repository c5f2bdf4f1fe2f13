// `node bench/create-rate.ts [creates]`: what the shared per-app create rate limit costs an app-key
// create. The same service process, on one database, takes the same creates with the limit on (set
// high enough never to refuse, so every create pays its statement) and off; admin-key creates,
// which are never limited, are the third run. First, the limit's statement alone. End-to-end
// figures on a shared machine vary by more than the difference; the statement's own time does not.
// Prints one line per measurement, then one JSON line.
import pg from 'pg';
import { AppKeys } from '../src/apps/app-keys.ts';
import { CreateRateLimit } from '../src/apps/create-rate-limit.ts';
import { jsonClient, startBenchTarget } from './http.ts';
import { openBenchServer } from './postgres.ts';
import { startServiceProcess } from './service-process.ts';

const creates = Number(process.argv[2] ?? 5_000);
const IN_FLIGHT = 16;
const server = await openBenchServer(false);
const target = await startBenchTarget();

async function run(label: string, env: Record<string, string>, asApp: boolean) {
  const url = await server.createDatabase(`rate_${label.replace(/\W/g, '_')}`);
  const service = await startServiceProcess(url, { RUN_WORKERS: 'false', ...env });
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const key = asApp ? (await new AppKeys(pool).createAppKey('bench-app')).key : undefined;
  const client = jsonClient(service.url, IN_FLIGHT, key);
  const body = { appId: 'bench-app', mode: 'db', message: { lambdaProxyMessage: { httpMethod: 'POST', path: '/hook', body: '{}' }, execution: { type: 'rest-api', baseUrl: target.url } } };
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next++ < creates) {
      const started = performance.now();
      const response = await client.post('/v1/jobs/create', body);
      if (response.status !== 202) throw new Error(`${label}: create answered ${response.status} ${JSON.stringify(response.body)}`);
      latencies.push(performance.now() - started);
    }
  };
  // A warm-up, so connections and prepared statements exist before the clock runs.
  for (let i = 0; i < 200; i++) await client.post('/v1/jobs/create', body);
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const result = { label, perSecond: Math.round(creates / seconds), p50Ms: +latencies[Math.floor(latencies.length / 2)]!.toFixed(2), p99Ms: +latencies[Math.floor(latencies.length * 0.99)]!.toFixed(2) };
  console.log(`${label.padEnd(28)} ${String(result.perSecond).padStart(6)} creates/s  p50 ${result.p50Ms} ms  p99 ${result.p99Ms} ms`);
  client.close();
  await pool.end();
  await service.stop();
  return result;
}

/** The statement alone, one connection, one call at a time: what each limited create adds in latency. */
async function statementAlone() {
  const url = await server.createDatabase('rate_statement');
  const service = await startServiceProcess(url, { RUN_WORKERS: 'false' });
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const limit = new CreateRateLimit(pool, { perSecond: 100_000, burst: 1_000_000 });
  for (let i = 0; i < 500; i++) await limit.take('warm-up');
  const started = performance.now();
  for (let i = 0; i < creates; i++) await limit.take(`app-${i % 10}`);
  const microseconds = Math.round((performance.now() - started) * 1000 / creates);
  console.log(`${'the statement alone'.padEnd(28)} ${microseconds} µs per call (round trip included)`);
  await pool.end();
  await service.stop();
  return microseconds;
}

const results = [];
const statementMicroseconds = await statementAlone();
results.push(await run('app key, limit off', { CREATE_RATE_LIMIT_PER_SECOND: '0' }, true));
results.push(await run('app key, limit on (shared)', { CREATE_RATE_LIMIT_PER_SECOND: '100000', CREATE_RATE_LIMIT_BURST: '1000000' }, true));
results.push(await run('admin key (never limited)', {}, false));
console.log(JSON.stringify({ creates, inFlight: IN_FLIGHT, database: server.description, statementMicroseconds, results }));
await target.close();
await server.close();
