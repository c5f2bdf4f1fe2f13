// The Lambda runtime in this process: secrets read from SSM Parameter Store once per container
// (aws-sdk-client-mock on the real SSMClient: no SSM emulator exists), the migrate handler on a real
// Postgres, prepared statements turned off per pool, the work window, and the debounced wake.
import { GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import t from 'tap';
import { readSecretParameters } from '../src/aws/ssm-parameters.ts';
import { ConfigError, secretParameterNames } from '../src/config/config.ts';
import { createPool } from '../src/db/pool.ts';
import { claimAttempts } from '../src/jobs/attempt-repository.ts';
import { silentLogger } from '../src/ops/log.ts';
import { capturingLogger } from './helpers/log.ts';
import { named } from '../src/db/prepared.ts';
import { handler as migrateHandler } from '../src/handlers/migrate.ts';
import { isWake, ReadyJobWake, WAKE_EVENT, WAKE_INTERVAL_MS } from '../src/handlers/ready-job-wake.ts';
import { handler as runDbJobs } from '../src/handlers/run-db-jobs.ts';
import { functionRuntime, loadFunctionConfig } from '../src/handlers/runtime.ts';
import { SETTLE_RESERVE_MS, workWindow } from '../src/handlers/work-window.ts';
import { createTestDatabase } from './helpers/database.ts';
import { ADMIN_KEY, INTERNAL_TOKEN, restJob } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const ssm = mockClient(SSMClient);
t.teardown(() => ssm.restore());
t.beforeEach(() => ssm.reset());
process.env.AWS_REGION = 'eu-west-1';
process.env.AWS_ACCESS_KEY_ID = 'test-access-key';
process.env.AWS_SECRET_ACCESS_KEY = 'test-secret-key';

const database = await createTestDatabase();
t.teardown(() => database.close());

const PARAMETERS = {
  DATABASE_URL_SSM_PARAMETER: '/switchyard/test/database-url',
  INTERNAL_JWT_TOKEN_SSM_PARAMETER: '/switchyard/test/internal-jwt-token',
};
const answer = (values: Record<string, string>) => ({
  Parameters: Object.entries(values).map(([Name, Value]) => ({ Name, Value, Type: 'SecureString' as const })),
  InvalidParameters: [],
});

t.test('secret settings named by SSM parameter are read in one decrypted GetParameters call', async (t) => {
  ssm.on(GetParametersCommand).resolves(answer({ '/switchyard/test/database-url': database.connectionString, '/switchyard/test/internal-jwt-token': INTERNAL_TOKEN }));
  const config = await loadFunctionConfig({ ...PARAMETERS, NODE_ENV: 'production' });
  t.equal(config.databaseUrl, database.connectionString);
  t.equal(config.internalToken, INTERNAL_TOKEN);
  t.same(ssm.commandCalls(GetParametersCommand).map((call) => call.args[0].input), [{ Names: ['/switchyard/test/database-url', '/switchyard/test/internal-jwt-token'], WithDecryption: true }]);
});

t.test('nothing named: no SSM call; a function without DATABASE_URL refuses to start, naming it', async (t) => {
  t.same(await readSecretParameters(new Map()), {});
  await t.rejects(loadFunctionConfig({}), new ConfigError('DATABASE_URL', 'must be set, or named with DATABASE_URL_SSM_PARAMETER: a Lambda function has no embedded database'));
  t.equal(ssm.commandCalls(GetParametersCommand).length, 0);
});

t.test('a parameter that does not exist, a bad name, or a setting given both ways is a ConfigError naming the variable', async (t) => {
  ssm.on(GetParametersCommand).resolves({ Parameters: [], InvalidParameters: ['/switchyard/test/database-url'] });
  await t.rejects(loadFunctionConfig({ DATABASE_URL_SSM_PARAMETER: '/switchyard/test/database-url' }), { name: 'ConfigError', variable: 'DATABASE_URL_SSM_PARAMETER', message: /does not exist or cannot be read/ });
  t.throws(() => secretParameterNames({ INTERNAL_JWT_TOKEN_SSM_PARAMETER: 'no-leading-slash' }), { name: 'ConfigError', variable: 'INTERNAL_JWT_TOKEN_SSM_PARAMETER', message: /starting with \// });
  t.throws(() => secretParameterNames({ DATABASE_URL_SSM_PARAMETER: '/a', DATABASE_URL: 'postgres://x/y' }), { name: 'ConfigError', variable: 'DATABASE_URL_SSM_PARAMETER', message: /both set/ });
});

t.test('migrate, then one runtime per container: its secrets read once, reused by every invocation', async (t) => {
  for (const [key, value] of Object.entries({ ...PARAMETERS, BOOTSTRAP_ADMIN_KEY: ADMIN_KEY, ALLOW_PRIVATE_TARGETS: 'true' })) process.env[key] = value;
  t.teardown(() => {
    for (const key of [...Object.keys(PARAMETERS), 'BOOTSTRAP_ADMIN_KEY', 'ALLOW_PRIVATE_TARGETS']) delete process.env[key];
  });
  ssm.on(GetParametersCommand).resolves(answer({ '/switchyard/test/database-url': database.connectionString, '/switchyard/test/internal-jwt-token': INTERNAL_TOKEN }));
  const migrated = await migrateHandler();
  t.ok(migrated.applied.includes('0001_jobs'));
  t.same(await migrateHandler(), { applied: [] });
  const calls = ssm.commandCalls(GetParametersCommand).length;
  const [first, second] = await Promise.all([functionRuntime(), functionRuntime()]);
  t.equal(first, second, 'one runtime per container');
  t.equal(await functionRuntime(), first);
  t.equal(ssm.commandCalls(GetParametersCommand).length, calls + 1, 'the secrets are read once, at the cold start');
  t.equal(first.config.databasePoolMax, 20, 'the template sets DATABASE_POOL_MAX; the default stays the server\'s');
  await first.parts.jobs.healthy();

  // A function that timed out mid-job: its claim is never settled. The cron's run-db-jobs takes the
  // expired claim back (pg-boss's supervisor, which no timer runs on Lambda) and runs the job again.
  const target = await startTarget();
  t.teardown(() => target.close());
  const created = await first.parts.jobs.create(restJob(target.url, { execution: { timeoutMs: 1_000 } }));
  const [claimed] = await first.parts.dbLane.fetchDue(10);
  t.equal(claimed?.id, created.id, 'claimed by a function that then died');
  t.equal((await claimAttempts(first.parts.pool, 'db', [{ id: created.id, attempt: claimed!.attempt }])).runnable.length, 1, 'and marked running, as a run does');
  const cronTick = { source: 'aws.events', 'detail-type': 'Scheduled Event' };
  // The claim expires 11 s after it was taken (timeout + 10 s) and the row counts as lost 16 s after
  // its start (timeout + 15 s); each tick here stands for a cron tick. 40 s covers both on a busy machine.
  const recovered = await waitFor(async () => {
    const result = await runDbJobs(cronTick, { getRemainingTimeInMillis: () => 30_000 });
    return result.completed > 0 && result;
  }, { timeoutMs: 40_000, intervalMs: 1_000, what: 'the lost attempt to be run again' });
  t.equal(recovered.recovered, 1, 'found as a lost attempt');
  t.equal(target.requests.length, 1, 'run again once');
  t.equal((await first.parts.pool.query('SELECT status, attempts FROM jobs WHERE id = $1', [created.id])).rows[0].status, 'completed');
  await first.stop();
});

t.test('a cold start that failed does not fail the later deliveries of its container', async (t) => {
  for (const [key, value] of Object.entries({ ...PARAMETERS, ALLOW_PRIVATE_TARGETS: 'true' })) process.env[key] = value;
  t.teardown(() => {
    for (const key of [...Object.keys(PARAMETERS), 'ALLOW_PRIVATE_TARGETS']) delete process.env[key];
  });
  const { handler: scheduledMessage } = await import('../src/handlers/scheduled-message.ts');
  const jobId = '0190f3c2-7c1e-7000-8000-0000000000aa';
  // SSM is briefly unavailable while this container starts: the first delivery fails (and
  // EventBridge will deliver again).
  ssm.on(GetParametersCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
  await t.rejects(scheduledMessage({ jobId }), /Rate exceeded/);
  // The next delivery to the same container starts it afresh instead of failing on the cached start.
  ssm.on(GetParametersCommand).resolves(answer({ '/switchyard/test/database-url': database.connectionString, '/switchyard/test/internal-jwt-token': INTERNAL_TOKEN }));
  t.same(await scheduledMessage({ jobId }), { jobId, ran: false, status: 'not_found' });
  await (await functionRuntime()).stop();
});

t.test('prepared statements can be turned off per pool, for poolers that do not keep them', async (t) => {
  const countPrepared = async (preparedStatements: boolean) => {
    const pool = createPool(database.connectionString, { log: silentLogger, max: 1, preparedStatements });
    try {
      await pool.query(named('SELECT $1::int AS one', [1]));
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM pg_prepared_statements');
      return rows[0].n as number;
    } finally {
      await pool.end();
    }
  };
  t.equal(await countPrepared(true), 1, 'named: prepared once on the connection');
  t.equal(await countPrepared(false), 0, 'off: nothing prepared');
});

t.test('the work window stops taking work, then abandons what runs, before the deadline', async (t) => {
  const started = Date.now();
  // 600 ms until the settle reserve; half of it is left for a claimed attempt, as the attempt would need 10 s.
  const window = workWindow({ getRemainingTimeInMillis: () => SETTLE_RESERVE_MS + 600 }, 10_000);
  t.teardown(() => window.dispose());
  t.ok(window.takingMsLeft() <= 300);
  const stopAt = await new Promise<number>((resolve) => window.stopTaking.addEventListener('abort', () => resolve(Date.now())));
  t.notOk(window.abandon.aborted, 'running work is not abandoned when taking stops');
  t.equal(window.takingMsLeft(), 0);
  const abandonAt = await new Promise<number>((resolve) => window.abandon.addEventListener('abort', () => resolve(Date.now())));
  t.ok(stopAt >= started + 290 && abandonAt >= started + 590, `stopped taking at ${stopAt - started} ms, abandoned at ${abandonAt - started} ms`);
});

t.test('the wake: sent once a request put a job in the lane, not again within the interval, never thrown', async (t) => {
  const sent: number[] = [];
  const logs: string[] = [];
  let fail = false;
  const wake = new ReadyJobWake(async () => {
    if (fail) throw new Error('throttled');
    sent.push(Date.now());
  }, await capturingLogger(logs));
  await wake.flush();
  t.equal(sent.length, 0, 'no job, no wake');
  wake.noteReadyJob();
  wake.noteReadyJob();
  await wake.flush();
  t.equal(sent.length, 1, 'one wake for the jobs of one request');
  wake.noteReadyJob();
  await wake.flush();
  t.equal(sent.length, 1, 'within the interval the woken run-db-jobs is still fetching');
  await waitFor(() => Date.now() - sent[0]! >= WAKE_INTERVAL_MS, { what: 'the wake interval to pass' });
  wake.noteReadyJob();
  fail = true;
  await wake.flush();
  t.match(logs, [/wake not sent.*throttled/]);
  t.ok(isWake(WAKE_EVENT));
  t.notOk(isWake({ source: 'aws.events' }), 'a cron tick is not a wake');
});
