// What every chaos scenario (test/chaos/) shares: its size, the services it runs as child processes
// on one database, how it makes jobs, and the one check each scenario ends with.
import pg from 'pg';
import type { Test } from 'tap';
import { INVARIANT_SQL } from '../../src/jobs/invariant.ts';
import { childEnv, startChild, waitForListening, type ChildService } from './child.ts';
import { tookEffect, type ChaosTarget } from './chaos-target.ts';
import { createRestartableDatabase, createTestDatabase, type RestartableDatabase, type TestDatabase } from './database.ts';
import { ADMIN_AUTH } from './service.ts';
import { waitFor } from './wait.ts';

/** `CHAOS_SIZE=full` (npm run test:chaos) runs the issue's sizes; anything else the small size npm test runs. */
export const FULL_SIZE = process.env.CHAOS_SIZE === 'full';
export const sized = <T>(small: T, full: T): T => (FULL_SIZE ? full : small);

// Every child of a scenario: creates never rate-limited (the scenarios make thousands at once),
// retries that come back within seconds, and a reconciler that runs several times per scenario, so
// that it would be seen repairing anything a scenario left stuck.
const CHAOS_SETTINGS = {
  CREATE_RATE_LIMIT_PER_SECOND: '0',
  RETRY_BASE_DELAY_SECONDS: '1',
  RETRY_MAX_DELAY_SECONDS: '2',
  RECONCILE_INTERVAL_SECONDS: '2',
  SHUTDOWN_TIMEOUT_MS: '2000',
};

export interface RunningChild {
  child: ChildService;
  url: string;
  pid: number;
}

/** The service processes of one scenario, every one of them kept (killed ones too) for the end check. */
export class Fleet {
  readonly children: ChildService[] = [];
  readonly #env: (extra: Record<string, string>) => Record<string, string>;

  constructor(env: (extra: Record<string, string>) => Record<string, string>) {
    this.#env = env;
  }

  async start(extra: Record<string, string> = {}): Promise<RunningChild> {
    const child = startChild(this.#env(extra));
    this.children.push(child);
    // A start runs migrations and pg-boss's own; on a loaded 2-core machine that took up to ~10 s.
    const url = await waitForListening(child, 60_000);
    return { child, url, pid: child.process.pid! };
  }

  alive(): ChildService[] {
    return this.children.filter((child) => child.process.exitCode === null && child.process.signalCode === null);
  }

  async kill9(child: ChildService): Promise<void> {
    child.process.kill('SIGKILL');
    await child.exited;
  }

  async killAll(): Promise<void> {
    await Promise.all(this.alive().map((child) => this.kill9(child)));
  }
}

export interface ChaosSetup<Database extends TestDatabase = TestDatabase> {
  database: Database;
  /** The test's own connections, to read what the services wrote. */
  sql: pg.Pool;
  fleet: Fleet;
}

interface SetupOptions {
  /** Extra environment for every service of the scenario. */
  env?: Record<string, string>;
}

/**
 * The scenario's database (restartable, for a scenario that stops the server) and its fleet, torn
 * down in the order that leaves nothing talking to a dead server.
 */
export function chaosSetup(t: Test, options: SetupOptions & { restartable: true }): Promise<ChaosSetup<RestartableDatabase>>;
export function chaosSetup(t: Test, options?: SetupOptions): Promise<ChaosSetup>;
export async function chaosSetup(t: Test, { restartable = false, env = {} }: SetupOptions & { restartable?: boolean } = {}): Promise<ChaosSetup> {
  const database = restartable ? await createRestartableDatabase() : await createTestDatabase();
  const sql = new pg.Pool({ connectionString: database.connectionString, max: 4 });
  // A connection dies when a scenario stops the server on purpose; the pool makes a new one.
  sql.on('error', () => {});
  const fleet = new Fleet((extra) => childEnv(database.connectionString, { ...CHAOS_SETTINGS, ...env, ...extra }));
  t.teardown(async () => {
    // A failed scenario shows what its services said last.
    if (!t.passing()) for (const child of fleet.children) console.error(`--- service ${child.process.pid}:\n${child.output().slice(-6000)}`);
    await fleet.killAll();
    await sql.end();
    await database.close();
  });
  return { database, sql, fleet };
}

export interface PlannedJob {
  id: string;
  group: string | null;
}

export interface RestJobOptions {
  group?: string;
  timeoutMs?: number;
  mode?: 'db' | 'sqs' | 'both';
  retry?: { maxAttempts?: number; baseDelaySeconds?: number; maxDelaySeconds?: number };
}

/** A create request for a POST to `path` on the chaos target. */
export function restJobTo(targetUrl: string, path: string, options: RestJobOptions = {}) {
  return {
    appId: 'chaos',
    mode: options.mode ?? 'db',
    ...(options.group === undefined ? {} : { messageGroupId: options.group }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    message: {
      lambdaProxyMessage: { httpMethod: 'POST', path, body: '{}', headers: { 'content-type': 'application/json' } },
      execution: { type: 'rest-api', baseUrl: targetUrl, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) },
    },
  };
}

async function post(url: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...ADMIN_AUTH },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** Creates jobs through POST /v1/jobs/batch, 1,000 at a time, in the order given (which is each group's order). */
export async function createJobs(serviceUrl: string, requests: ReturnType<typeof restJobTo>[]): Promise<PlannedJob[]> {
  const planned: PlannedJob[] = [];
  for (let start = 0; start < requests.length; start += 1000) {
    const batch = requests.slice(start, start + 1000);
    const answer = await post(serviceUrl, '/v1/jobs/batch', { jobs: batch });
    if (answer.status !== 202) throw new Error(`batch create answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 500)}`);
    answer.body.jobs.forEach((job: { id: string }, index: number) => planned.push({ id: job.id, group: batch[index]!.messageGroupId ?? null }));
  }
  return planned;
}

/** Creates one job (any mode) through POST /v1/jobs/create. */
export async function createJob(serviceUrl: string, request: ReturnType<typeof restJobTo>): Promise<PlannedJob> {
  const answer = await post(serviceUrl, '/v1/jobs/create', request);
  if (answer.status !== 202) throw new Error(`create answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return { id: answer.body.id, group: request.messageGroupId ?? null };
}

/** How many of `jobs` are finished, read from the jobs table. */
export async function countFinished(sql: pg.Pool, jobs: PlannedJob[]): Promise<number> {
  const { rows: [row] } = await sql.query(
    `SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[]) AND status IN ('completed', 'failed', 'dead_lettered', 'cancelled')`,
    [jobs.map((job) => job.id)],
  );
  return row.n;
}

/** The jobs whose rows say completed now. */
export async function completedNow(sql: pg.Pool): Promise<Set<string>> {
  const { rows } = await sql.query(`SELECT id FROM jobs WHERE status = 'completed'`);
  return new Set(rows.map((row: { id: string }) => row.id));
}

/** How many attempts a service process logged as executed (attempt-log.ts writes one line per attempt). */
export function attemptsLoggedBy(child: ChildService): number {
  return child.output().match(/"msg":"job [0-9a-f-]+ attempt \d+\/\d+ /g)?.length ?? 0;
}

export interface EndCheck {
  sql: pg.Pool;
  target: ChaosTarget;
  fleet: Fleet;
  /** Every job the scenario made, in creation order. */
  jobs: PlannedJob[];
  /** The status a job must end in; completed unless told. */
  expected?: (job: PlannedJob) => string;
  /** Jobs allowed to take effect at the target more than once (in flight at a kill or an outage). */
  mayRepeat?: Set<string>;
  /**
   * Jobs whose lane job the reconciler may remove as stray: rows completed just before a kill,
   * whose (ungrouped) lane job pg-boss had not completed yet. Any other repair fails the check.
   */
  straysExplained?: Set<string>;
}

export interface EndReport {
  jobs: number;
  /** Jobs that took effect at the target more than once. */
  repeated: number;
  /** Reconciler repairs, all of them explained. */
  repairs: number;
  /** How long the invariant query took to come back empty after the last job finished. */
  invariantWaitMs: number;
}

const sample = <T>(items: T[]) => items.slice(0, 10);

/**
 * The end of every scenario: no job lost (each in the status expected), none recorded completed
 * twice, each taking effect at the target once (more only where allowed), each group's first
 * deliveries in creation order, the invariant query empty, every live service healthy, and no
 * service that logged a settle matching no running attempt, an unexplained repair, or a 5xx.
 */
export async function checkEnd(t: Test, check: EndCheck): Promise<EndReport> {
  const { sql, target, fleet, jobs } = check;
  const expected = check.expected ?? (() => 'completed');
  const mayRepeat = check.mayRepeat ?? new Set<string>();

  const { rows } = await sql.query(
    `SELECT j.id, j.status, j.attempts, j.lane,
            (SELECT count(*)::int FROM job_attempts a WHERE a.job_id = j.id AND a.outcome = 'completed') AS completions
       FROM jobs j`,
  );
  const byId = new Map<string, { status: string }>(rows.map((row: { id: string; status: string }) => [row.id, row]));
  t.equal(rows.length, jobs.length, 'no job lost and none made twice: one row per job created');
  const wrongStatus = jobs.filter((job) => byId.get(job.id)?.status !== expected(job));
  t.same(sample(wrongStatus.map((job) => ({ id: job.id, status: byId.get(job.id)?.status ?? 'no row', expected: expected(job) }))), [], 'every job ended as expected');

  // A DB-lane first attempt that completes writes no job_attempts row (attempt-repository.ts); every
  // other completion writes exactly one, and nothing else writes any.
  const recordedWrong = rows.filter((row: any) => {
    const implicit = row.status === 'completed' && row.lane === 'db' && row.attempts === 1;
    return row.completions !== (row.status === 'completed' && !implicit ? 1 : 0);
  });
  t.same(sample(recordedWrong), [], 'each completed job recorded completed once, no other job recorded completed');

  const effects = new Map(jobs.map((job) => [job.id, target.of(job.id).filter(tookEffect).length]));
  const completedUnseen = jobs.filter((job) => byId.get(job.id)?.status === 'completed' && effects.get(job.id) === 0);
  t.same(sample(completedUnseen.map((job) => job.id)), [], 'every completed job reached the target');
  const repeated = jobs.filter((job) => effects.get(job.id)! > 1);
  const unexplained = repeated.filter((job) => !mayRepeat.has(job.id));
  t.same(sample(unexplained.map((job) => ({ id: job.id, deliveries: target.of(job.id) }))), [], 'no job took effect twice at the target unless it was in flight at a kill or an outage');

  const groups = new Map<string, PlannedJob[]>();
  for (const job of jobs) if (job.group !== null) groups.set(job.group, [...groups.get(job.group) ?? [], job]);
  const outOfOrder = [...groups].filter(([, members]) => {
    const firsts = members.map((job) => target.of(job.id)[0]?.seq ?? Infinity);
    return firsts.some((seq, index) => index > 0 && seq < firsts[index - 1]!);
  }).map(([group]) => group);
  t.same(outOfOrder, [], "each group's first deliveries came in creation order");

  const finishedAt = Date.now();
  // A lane job whose row finished just before a kill can outlive it by its retry delay (pg-boss
  // takes the claim back, then the lane lets it go): up to RETRY_MAX_DELAY_SECONDS twice over
  // (jitter) after the claim's expiry. 30 s is that with room for a loaded machine.
  const violations = await waitFor(async () => {
    const found = (await sql.query(INVARIANT_SQL)).rows;
    return found.length === 0 ? found : undefined;
  }, { timeoutMs: 30_000, intervalMs: 250, what: 'the invariant query to come back empty' }).catch(async () => (await sql.query(INVARIANT_SQL)).rows);
  t.same(sample(violations), [], 'the invariant query is empty: nothing stuck');
  const invariantWaitMs = Date.now() - finishedAt;

  for (const child of fleet.alive()) {
    const url = child.url()!;
    const health = await fetch(url + '/healthz');
    t.same({ status: health.status, body: await health.json() }, { status: 200, body: { status: 'ok' } }, `the service at ${url} is healthy`);
  }

  const lines = fleet.children.flatMap((child) => child.output().split('\n').filter(Boolean));
  const messages = lines.map((line) => {
    try {
      return (JSON.parse(line) as { msg?: string; jobId?: string; status?: unknown; problem?: string }) ?? {};
    } catch {
      return { msg: line };
    }
  });
  t.same(sample(lines.filter((line) => line.includes('matched no running attempt'))), [], 'no settle matched no running attempt');
  const repairs = messages.filter((message) => message.msg?.startsWith('reconciler: job'));
  const unexplainedRepairs = repairs.filter((message) => !(message.problem === 'stray_lane_job' && message.jobId && check.straysExplained?.has(message.jobId)));
  t.same(sample(unexplainedRepairs.map((message) => message.msg)), [], 'the reconciler repaired nothing it should not have had to');
  // 503 is the answer while the database is away (the Postgres scenario); any other 5xx is a defect.
  const serverErrors = messages.filter((message) => message.msg?.startsWith('unhandled error')
    || (typeof message.status === 'number' && message.status >= 500 && message.status !== 503));
  t.same(sample(serverErrors.map((message) => message.msg)), [], 'no request ended in a 5xx other than 503');

  return { jobs: jobs.length, repeated: repeated.length, repairs: repairs.length, invariantWaitMs };
}

/** Prints a scenario's figures as one comment line, for docs/reliability.md. */
export function report(t: Test, scenario: string, figures: Record<string, unknown>): void {
  t.comment(`chaos ${FULL_SIZE ? 'full' : 'small'} | ${scenario} | ${Object.entries(figures).map(([key, value]) => `${key}=${value}`).join(' ')}`);
}
