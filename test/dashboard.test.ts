// The dashboard as a person uses it, in a real headless Chromium: log in with the admin key, find a
// dead-lettered job, open its timeline, press retry and watch it complete; retry a dead-lettered
// burst in bulk from a filtered list. Also what the browser must never be able to do: act without
// the session's CSRF token, run script, or read the session cookie.
//
// The README's screenshot (docs/dashboard.png) is taken here. It is written to the repository only
// with UPDATE_SCREENSHOTS=1 (times and ids differ on every run, so a plain `npm test` must not dirty
// the tree); otherwise it goes to a temporary directory, so the shot is taken and checked either way.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppKeys } from '../src/apps/app-keys.ts';
import { launchBrowser } from './helpers/chromium.ts';
import { ADMIN_KEY, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const service = await startTestService(t, { env: { RETRY_BASE_DELAY_SECONDS: '1', RETRY_MAX_DELAY_SECONDS: '1' } });
let failing = true;
const target = await startTarget(() => (failing ? { status: 502, body: 'bad gateway: upstream refused' } : { status: 200, body: 'ok' }));
t.teardown(() => target.close());
const healthy = await startTarget(() => ({ status: 200, body: 'ok' }));
t.teardown(() => healthy.close());
const context = await launchBrowser(t);
const browser = await context.newPage();
const url = (path: string) => service.url + path;

// Some history for the charts, then the failures the on-call engineer is woken for.
const batch = (jobs: unknown[]) => service.post('/v1/jobs/batch', { jobs });
await batch(Array.from({ length: 12 }, () => restJob('http://127.0.0.1:9', { appId: 'shop', delaySeconds: 3600 })));
const done = (await batch(Array.from({ length: 40 }, () => restJob(healthy.url, { appId: 'shop' })))).body.jobs.map((job: { id: string }) => job.id);
const paged = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'payments', retry: { maxAttempts: 2, baseDelaySeconds: 1, maxDelaySeconds: 1 } }, { path: '/charge' }));
const burst = (await batch(Array.from({ length: 6 }, () => restJob(target.url, { appId: 'mailer', retry: { maxAttempts: 1 } }, { path: '/send' })))).body.jobs.map((job: { id: string }) => job.id);
await service.waitForStatus(paged.body.id, 'dead_lettered', 20_000);
for (const id of burst) await service.waitForStatus(id, 'dead_lettered');
for (const id of done) await service.waitForStatus(id, 'completed');

t.test('logging in: a redirect to the form, the key once, then a session cookie that is not the key', async (t) => {
  await browser.goto(url('/dashboard'));
  t.match(browser.url(), /\/dashboard\/login$/, 'no session: the login form');
  await browser.fill('#key', 'sy_not-a-key');
  await browser.click('button[type=submit]');
  t.match(await browser.textContent('.notice'), /not valid/);
  const { key: appKey } = await new AppKeys(service.pool).createAppKey('shop');
  await browser.fill('#key', appKey);
  await browser.click('button[type=submit]');
  t.match(await browser.textContent('.notice'), /admin key/, 'an app key does not open the dashboard');
  await browser.fill('#key', ADMIN_KEY);
  await browser.click('button[type=submit]');
  await browser.waitForURL(url('/dashboard'));
  t.equal(await browser.textContent('h1'), 'Overview');
  const session = (await context.cookies()).find((cookie) => cookie.name === 'sy_session');
  t.ok(session, 'a session cookie');
  t.equal(session!.httpOnly, true, 'HttpOnly: no script can read it');
  t.equal(session!.sameSite, 'Strict');
  t.not(session!.value, ADMIN_KEY, 'the cookie is not the key');
  t.notOk(JSON.stringify(await context.cookies()).includes(ADMIN_KEY), 'no cookie holds the key');
  const { rows } = await service.pool.query('SELECT * FROM dashboard_sessions');
  t.notOk(JSON.stringify(rows).includes(session!.value), 'the server keeps only a hash of the session id');
});

t.test('the overview shows the failure; its page shows the timeline; retry completes it', async (t) => {
  await browser.goto(url('/dashboard'));
  t.match(await browser.textContent('main'), /Recent failures/);
  t.ok(await browser.isVisible(`a[href="/dashboard/jobs/${paged.body.id}"]`), 'the dead-lettered job is among the recent failures');
  t.ok(await browser.isVisible('figure.chart svg rect'), 'the last hour is charted');
  const shots = process.env.UPDATE_SCREENSHOTS === '1' ? fileURLToPath(new URL('../docs/', import.meta.url)) : mkdtempSync(join(tmpdir(), 'switchyard-shot-'));
  const shot = join(shots, 'dashboard.png');
  await browser.screenshot({ path: shot, fullPage: true });
  t.same([...readFileSync(shot).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG was written');
  if (process.env.UPDATE_SCREENSHOTS !== '1') rmSync(shots, { recursive: true, force: true });

  await browser.click('nav >> text=Dead letters');
  t.match(browser.url(), /status=dead_lettered/);
  await browser.click(`a[href="/dashboard/jobs/${paged.body.id}"]`);
  t.match(await browser.textContent('h1'), /dead lettered/);
  const attempts = await browser.$$eval('ol.timeline li:not(.wait)', (items) => items.map((item) => item.textContent ?? ''));
  t.equal(attempts.length, 2, 'both attempts on the timeline');
  t.match(attempts[0], /Attempt 1[\s\S]*retrying[\s\S]*HTTP 502/);
  t.match(attempts[1], /Attempt 2[\s\S]*dead lettered[\s\S]*HTTP 502/);
  t.match(await browser.textContent('ol.timeline'), /waited \d+ (ms|s)/, 'the backoff between them is shown');

  failing = false;
  await browser.click('button:text-is("Retry")');
  t.match(await browser.textContent('.notice'), /The job was retried/);
  // The page reloads itself while the job is still moving.
  await browser.waitForSelector('h1 .badge.completed', { timeout: 20_000 });
  const after = await browser.$$eval('ol.timeline li:not(.wait)', (items) => items.map((item) => item.textContent ?? ''));
  t.equal(after.length, 3);
  t.match(after[2], /Attempt 1[\s\S]*completed[\s\S]*HTTP 200/, 'the new run is the last on the timeline');
  t.equal((await service.job(paged.body.id))!.status, 'completed');
});

t.test('a dead-lettered burst is retried in bulk from the filtered list', async (t) => {
  await browser.goto(url('/dashboard/jobs'));
  await browser.fill('input[name=appId]', 'mailer');
  await browser.selectOption('form.filters select[name=status]', 'dead_lettered');
  await browser.click('button:text-is("Filter")');
  t.equal(await browser.locator('tbody tr').count(), 6);
  await browser.selectOption('select[name=action]', 'retry');
  await browser.click('button:text-is("Review bulk action…")');
  t.match(await browser.textContent('h1'), /Retry 6 job\(s\)\?/);
  await browser.click('button:text-is("Retry 6 job(s)")');
  await browser.waitForSelector('h1 .badge.completed', { timeout: 30_000 });
  t.match(await browser.textContent('main'), /6 of 6[\s\S]*6 changed, 0 skipped/);
  await waitFor(async () => (await service.pool.query("SELECT count(*)::int AS n FROM jobs WHERE app_id = 'mailer' AND status = 'completed'")).rows[0].n === 6, { what: 'the burst to complete' });
});

t.test('no action without the CSRF token, a strict CSP, and logging out ends the session', async (t) => {
  const response = await browser.goto(url('/dashboard'));
  const csp = response!.headers()['content-security-policy']!;
  t.match(csp, /default-src 'none'/);
  t.notMatch(csp, /unsafe-inline|script-src/, 'no script of any kind may run');
  t.equal(await browser.locator('script').count(), 0);
  const [job] = (await batch([restJob(target.url, { appId: 'csrf', delaySeconds: 3600 })])).body.jobs;
  const forged = await browser.request.post(url(`/dashboard/jobs/${job.id}/cancel`), { form: { csrf: 'guessed' } });
  t.equal(forged.status(), 403, 'a wrong token is refused');
  const bare = await browser.request.post(url(`/dashboard/jobs/${job.id}/cancel`), { form: {} });
  t.equal(bare.status(), 403, 'a missing token is refused');
  t.equal((await service.job(job.id))!.status, 'pending', 'nothing was cancelled');

  await browser.click('button:text-is("Log out")');
  await browser.waitForURL(/\/dashboard\/login$/);
  await browser.goto(url('/dashboard/jobs'));
  t.match(browser.url(), /\/dashboard\/login$/, 'the session is gone');
  t.equal((await service.pool.query('SELECT count(*)::int AS n FROM dashboard_sessions')).rows[0].n, 0);
});
