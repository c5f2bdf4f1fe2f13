// `switchyard …` as an operator types it: the bin (bin/switchyard.js) run as a real process against
// a running service, with --json output, the documented exit codes, clear errors, and a bulk retry
// followed with a progress bar. Also that the bin works when the first `node` on the PATH is older
// than 24 (it runs itself again with the project's pinned Node), and through `npx switchyard`.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { ROOT } from '../src/cli/start-command.ts';
import { childEnv } from './helpers/child.ts';
import { freePort } from './helpers/database.ts';
import { ADMIN_KEY, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const service = await startTestService(t);
let failing = true;
const target = await startTarget(() => (failing ? { status: 500 } : { status: 200 }));
t.teardown(() => target.close());

async function switchyard(args: string[], env: Record<string, string> = {}, node = process.execPath): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(node, ['bin/switchyard.js', ...args], {
      cwd: ROOT, env: { ...process.env, SWITCHYARD_URL: service.url, SWITCHYARD_KEY: ADMIN_KEY, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const [dead, waiting] = (await service.post('/v1/jobs/batch', { jobs: [
  restJob(target.url, { appId: 'cli-app', retry: { maxAttempts: 1 } }, { path: '/a' }),
  restJob(target.url, { appId: 'cli-app', delaySeconds: 3600 }),
] })).body.jobs.map((job: { id: string }) => job.id);
await service.waitForStatus(dead, 'dead_lettered');

t.test('jobs ls, show and attempts, for people and with --json', async (t) => {
  const listed = await switchyard(['jobs', 'ls', '--app', 'cli-app', '--json']);
  t.equal(listed.code, 0, listed.stderr);
  t.same(JSON.parse(listed.stdout).jobs.map((job: { id: string }) => job.id).sort(), [dead, waiting].sort());
  const human = await switchyard(['jobs', 'ls', '--app', 'cli-app', '--status', 'dead_lettered']);
  t.match(human.stdout, /^ID\s+APP\s+TYPE\s+STATUS/);
  t.match(human.stdout, new RegExp(`${dead}\\s+cli-app\\s+rest-api\\s+dead_lettered\\s+1/1`));
  t.notMatch(human.stdout, new RegExp(waiting));
  const shown = await switchyard(['jobs', 'show', dead]);
  t.match(shown.stdout, /status\s+dead_lettered/);
  t.match(shown.stdout, /last error\s+HTTP 500/);
  const attempts = JSON.parse((await switchyard(['jobs', 'attempts', dead, '--json'])).stdout);
  t.match(attempts, { jobId: dead, attempts: [{ attempt: 1, outcome: 'dead_lettered', httpStatus: 500 }] });
});

t.test('acting on one job; what it cannot do ends with exit 1 and says why', async (t) => {
  const cancelled = await switchyard(['jobs', 'cancel', waiting]);
  t.equal(cancelled.code, 0);
  t.equal(cancelled.stdout.trim(), `job ${waiting} is now cancelled`);
  const again = await switchyard(['jobs', 'cancel', waiting]);
  t.equal(again.code, 1, 'refused: exit 1');
  t.match(again.stderr, /is cancelled; cannot cancel/);
  const missing = await switchyard(['jobs', 'show', '01a230e1-8ec0-7593-8ec5-46ba28ee9590', '--json']);
  t.equal(missing.code, 1);
  t.match(JSON.parse(missing.stderr), { error: 'CliError', message: /not found/ });
});

t.test('a bulk retry by filter, with progress, each job once', async (t) => {
  const burst = (await service.post('/v1/jobs/batch', { jobs: Array.from({ length: 25 }, () => restJob(target.url, { appId: 'cli-burst', retry: { maxAttempts: 1 } })) })).body.jobs.map((job: { id: string }) => job.id);
  for (const id of burst) await service.waitForStatus(id, 'dead_lettered');
  failing = false;
  const dry = await switchyard(['jobs', 'retry', '--app', 'cli-burst', '--status', 'dead_lettered', '--dry-run']);
  t.equal(dry.stdout.trim(), 'retry would reach 25 job(s); nothing was changed');
  const run = await switchyard(['jobs', 'retry', '--app', 'cli-burst', '--status', 'dead_lettered']);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /^bulk retry \S+ completed: 25 changed, 0 skipped of 25$/m);
  t.match(run.stderr, /retry \[#{30}\] 25\/25 \(25 changed, 0 skipped\)/, 'the progress bar reaches the end (on stderr)');
  await waitFor(async () => (await service.pool.query("SELECT count(*)::int AS n FROM jobs WHERE app_id = 'cli-burst' AND status = 'completed'")).rows[0].n === 25, { what: 'the burst to complete' });
  const id = /^bulk retry (\S+)/m.exec(run.stdout)![1]!;
  t.match(JSON.parse((await switchyard(['bulk', 'show', id, '--json'])).stdout), { id, status: 'completed', changed: 25 });
});

t.test('usage, settings and reachability each have their exit code', async (t) => {
  t.equal((await switchyard([])).code, 2, 'no command: usage');
  const unknown = await switchyard(['jobs', 'frobnicate']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /usage: switchyard/);
  t.equal((await switchyard(['jobs', 'ls', '--colour'])).code, 2, 'an unknown flag');
  t.match((await switchyard(['jobs', 'retry'])).stderr, /needs a job id, or filter flags/);
  t.equal((await switchyard(['jobs', 'retry', dead, '--app', 'x'])).code, 2, 'an id and a filter at once');
  const noKey = await switchyard(['jobs', 'ls'], { SWITCHYARD_KEY: '' });
  t.equal(noKey.code, 3);
  t.match(noKey.stderr, /set SWITCHYARD_KEY/);
  const badKey = await switchyard(['jobs', 'ls'], { SWITCHYARD_KEY: 'sy_wrong' });
  t.equal(badKey.code, 3);
  t.match(badKey.stderr, /check SWITCHYARD_KEY/);
  const port = await freePort();
  const away = await switchyard(['jobs', 'ls'], { SWITCHYARD_URL: `http://127.0.0.1:${port}` });
  t.equal(away.code, 3);
  t.match(away.stderr, `cannot reach the service at http://127.0.0.1:${port} (ECONNREFUSED)`);
  const invalid = await switchyard(['jobs', 'ls', '--status', 'sleeping']);
  t.equal(invalid.code, 1);
  t.match(invalid.stderr, /invalid input: status/);
});

t.test('migrate and start: the database commands and the service itself', async (t) => {
  const migrated = await switchyard(['migrate', '--json'], { DATABASE_URL: service.database.connectionString });
  t.equal(migrated.code, 0, migrated.stderr);
  t.same(JSON.parse(migrated.stdout), { applied: [] }, 'the service applied them all already');
  const child = spawn(process.execPath, ['bin/switchyard.js', 'start'], {
    cwd: ROOT, env: { ...process.env, ...childEnv(service.database.connectionString, { RUN_WORKERS: 'false', LOG_FORMAT: 'json' }) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const listening = await waitFor(() => /API listening on (http:\/\/[^\s"]+)/.exec(output)?.[1], { timeoutMs: 30_000, what: 'switchyard start to listen' });
  t.equal((await fetch(`${listening}/healthz`)).status, 200, 'the started service answers');
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM reaches the service through the command, which stops cleanly');
});

t.test('an older node first on the PATH: the bin runs itself again on the pinned Node 24', async (t) => {
  // The machines this runs on have Debian's Node 20 there (docs/operations.md).
  const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => existsSync(path));
  t.ok(systemNode, 'a system node to start the bin with');
  const shown = await switchyard(['jobs', 'show', dead, '--json'], {}, systemNode!);
  t.equal(shown.code, 0, shown.stderr);
  t.equal(JSON.parse(shown.stdout).id, dead);
  const through = await promisify(execFile)('npx', ['--no-install', 'switchyard', 'jobs', 'attempts', dead, '--json'], {
    cwd: ROOT, env: { ...process.env, PATH: `/usr/local/bin:/usr/bin:/bin`, SWITCHYARD_URL: service.url, SWITCHYARD_KEY: ADMIN_KEY },
  });
  t.equal(JSON.parse(through.stdout).jobId, dead, 'npx switchyard from the checkout runs the project\'s own bin');
});
