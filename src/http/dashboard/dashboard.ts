// The dashboard at /dashboard: server-rendered HTML, no script at all, one stylesheet served from
// here, behind a strict Content-Security-Policy. A person logs in once with an admin key and gets a
// session cookie (HttpOnly, SameSite=Strict, never the key itself); every form posts the session's
// CSRF token, checked in constant time before any action. Actions call the same JobAdmin and
// BulkActions as the API.
import { randomBytes } from 'node:crypto';
import { Router } from '@koa/router';
import type { Context, Next } from 'koa';
import type { BulkActions } from '../../admin/bulk-actions.ts';
import type { JobAdmin } from '../../admin/job-admin.ts';
import type { JobStats } from '../../admin/job-stats.ts';
import type { AppKeys } from '../../apps/app-keys.ts';
import { SESSION_HOURS, type DashboardSessions, type Session } from '../../apps/dashboard-sessions.ts';
import { BulkActionNotFoundError, InvalidStateError, JobNotFoundError, ValidationError } from '../../model/errors.ts';
import { secretMatcher } from '../auth.ts';
import { readFormBody } from '../body.ts';
import { bulkActionPage, bulkListPage, bulkReviewPage, loginPage } from './bulk-pages.ts';
import { html } from './html.ts';
import { FILTER_FIELDS, jobListPage, jobPage, toIso, type FilterForm } from './jobs-pages.ts';
import { page } from './layout.ts';
import { overviewPage } from './overview-page.ts';
import { STYLESHEET } from './style.ts';

export interface DashboardDeps {
  jobAdmin: JobAdmin;
  bulkActions: BulkActions;
  stats: JobStats;
  sessions: DashboardSessions;
  appKeys: AppKeys;
}

const SESSION_COOKIE = 'sy_session';
const LOGIN_COOKIE = 'sy_login';
const FORM_LIMIT_BYTES = 16 * 1024;
// Nothing but this service's own stylesheet and images; no script, no inline style, no framing.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const ACTIONS = { retry: 'retried', cancel: 'cancelled', deadletter: 'dead-lettered' } as const;

const sameToken = (presented: string | undefined | null, expected: string) => typeof presented === 'string' && secretMatcher(expected)(presented);

function securityHeaders() {
  return async (ctx: Context, next: Next) => {
    ctx.set({
      'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
    });
    await next();
  };
}

function cookieOptions(ctx: Context, path: string, maxAgeMs: number) {
  return { httpOnly: true, sameSite: 'strict' as const, path, maxAge: maxAgeMs, secure: ctx.secure, overwrite: true };
}

/** Renders what went wrong as a page: the dashboard never answers JSON. */
function errorPages() {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      const known = error instanceof ValidationError ? 400
        : error instanceof JobNotFoundError || error instanceof BulkActionNotFoundError ? 404
        : error instanceof InvalidStateError ? 409 : undefined;
      if (known === undefined) throw error;
      ctx.status = known;
      ctx.type = 'html';
      ctx.body = page({ title: 'Not possible', csrfToken: (ctx.state.session as Session | undefined)?.csrfToken, notice: { kind: 'error', text: (error as Error).message } }, html`<p><a href="/dashboard">back to the overview</a></p>`);
    }
  };
}

export function dashboardRoutes(deps: DashboardDeps): Router {
  const router = new Router({ prefix: '/dashboard' });
  router.use(securityHeaders());
  router.use(errorPages());
  const sessionOf = (ctx: Context) => ctx.state.session as Session | undefined;

  router.get('/assets/style.css', (ctx) => {
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = STYLESHEET;
  });

  // Login CSRF: the form carries a token that must match a cookie this page set, so another site
  // cannot log a browser in under a key of its own choosing.
  router.get('/login', (ctx) => {
    const token = randomBytes(24).toString('base64url');
    ctx.cookies.set(LOGIN_COOKIE, token, cookieOptions(ctx, '/dashboard/login', 10 * 60_000));
    ctx.type = 'html';
    ctx.body = loginPage(token);
  });

  router.post('/login', async (ctx) => {
    const form = await readFormBody(ctx, FORM_LIMIT_BYTES);
    const expected = ctx.cookies.get(LOGIN_COOKIE);
    const retry = (status: number, message: string) => {
      const token = randomBytes(24).toString('base64url');
      ctx.cookies.set(LOGIN_COOKIE, token, cookieOptions(ctx, '/dashboard/login', 10 * 60_000));
      ctx.status = status;
      ctx.type = 'html';
      ctx.body = loginPage(token, message);
    };
    if (!expected || !sameToken(form.get('csrf'), expected)) return retry(403, 'The login form expired; please log in again.');
    const key = (form.get('key') ?? '').trim();
    const caller = key && key.length <= 512 ? await deps.appKeys.authenticate(key) : undefined;
    if (!caller) return retry(401, 'That key is not valid (unknown or revoked).');
    if (caller.kind !== 'admin') return retry(403, 'The dashboard shows every app: log in with an admin key.');
    const { id } = await deps.sessions.open(caller.keyId);
    ctx.cookies.set(LOGIN_COOKIE, null, { path: '/dashboard/login' });
    ctx.cookies.set(SESSION_COOKIE, id, cookieOptions(ctx, '/dashboard', SESSION_HOURS * 3_600_000));
    ctx.redirect('/dashboard');
    ctx.status = 303;
  });

  // Everything below needs a session; every POST also its CSRF token.
  router.use(async (ctx, next) => {
    const id = ctx.cookies.get(SESSION_COOKIE);
    const session = id ? await deps.sessions.find(id) : undefined;
    if (!session) {
      ctx.redirect('/dashboard/login');
      ctx.status = 303;
      return;
    }
    ctx.state.session = session;
    ctx.state.caller = { kind: 'admin', keyId: session.keyId };
    if (ctx.method === 'POST') {
      const form = await readFormBody(ctx, FORM_LIMIT_BYTES);
      if (!sameToken(form.get('csrf'), session.csrfToken)) {
        ctx.status = 403;
        ctx.type = 'html';
        ctx.body = page({ title: 'Refused', csrfToken: session.csrfToken, notice: { kind: 'error', text: 'This form is not from your session (a missing or wrong CSRF token). Reload the page and try again.' } }, html``);
        return;
      }
      ctx.state.form = form;
    }
    ctx.type = 'html';
    await next();
  });

  const csrf = (ctx: Context) => sessionOf(ctx)!.csrfToken;
  const form = (ctx: Context) => ctx.state.form as URLSearchParams;
  const see = (ctx: Context, location: string) => {
    ctx.redirect(location);
    ctx.status = 303;
  };

  router.post('/logout', async (ctx) => {
    await deps.sessions.close(ctx.cookies.get(SESSION_COOKIE)!);
    ctx.cookies.set(SESSION_COOKIE, null, { path: '/dashboard' });
    see(ctx, '/dashboard/login');
  });

  router.get('/', async (ctx) => {
    const [overview, runs] = await Promise.all([deps.stats.overview(), deps.bulkActions.list(undefined, 10)]);
    ctx.body = overviewPage(overview, runs.filter((run) => run.status === 'running'), csrf(ctx));
  });

  router.get('/jobs', async (ctx) => {
    const filter = filterFrom((name) => ctx.query[name]);
    const cursor = typeof ctx.query.cursor === 'string' ? ctx.query.cursor : undefined;
    const result = await deps.jobAdmin.list({ ...filter, cursor, limit: '50' }).catch((error) => {
      if (error instanceof ValidationError) return { error: error.message };
      throw error;
    });
    if ('error' in result) ctx.status = 400;
    ctx.body = jobListPage(filter, result, csrf(ctx));
  });

  router.get('/jobs/:id', async (ctx) => {
    const id = ctx.params.id!;
    const [job, { attempts }] = await Promise.all([deps.jobAdmin.get(id), deps.jobAdmin.attempts(id)]);
    const done = ACTIONS[ctx.query.done as keyof typeof ACTIONS];
    ctx.body = jobPage(job, attempts, csrf(ctx), done ? { kind: 'ok', text: `The job was ${done}.` } : undefined);
  });

  router.post('/jobs/:id/:action', async (ctx) => {
    const { id, action } = ctx.params as { id: string; action: string };
    if (action === 'retry') await deps.jobAdmin.retry(id);
    else if (action === 'cancel') await deps.jobAdmin.cancel(id);
    else if (action === 'deadletter') await deps.jobAdmin.deadLetter(id);
    else throw ValidationError.field('action', 'must be retry, cancel or deadletter');
    see(ctx, `/dashboard/jobs/${id}?done=${action}`);
  });

  router.get('/bulk', async (ctx) => {
    ctx.body = bulkListPage(await deps.bulkActions.list(undefined, 50), csrf(ctx));
  });

  router.post('/bulk/review', async (ctx) => {
    const filter = filterFrom((name) => form(ctx).get(name) ?? undefined);
    const action = form(ctx).get('action') ?? '';
    const counted = await deps.bulkActions.start({ action, filter, dryRun: true }, { appScope: undefined, by: sessionOf(ctx)!.keyId });
    ctx.body = bulkReviewPage(action, filter, 'matched' in counted ? counted.matched : 0, csrf(ctx));
  });

  router.post('/bulk', async (ctx) => {
    const filter = filterFrom((name) => form(ctx).get(name) ?? undefined);
    const started = await deps.bulkActions.start({ action: form(ctx).get('action'), filter }, { appScope: undefined, by: sessionOf(ctx)!.keyId });
    see(ctx, 'id' in started ? `/dashboard/bulk/${started.id}` : '/dashboard/bulk');
  });

  router.get('/bulk/:id', async (ctx) => {
    ctx.body = bulkActionPage(await deps.bulkActions.get(ctx.params.id!), csrf(ctx));
  });

  router.post('/bulk/:id/cancel', async (ctx) => {
    await deps.bulkActions.cancel(ctx.params.id!);
    see(ctx, `/dashboard/bulk/${ctx.params.id}`);
  });

  return router;
}

/** The filter fields a form or query gives, empty ones left out, times as the form shows them. */
function filterFrom(read: (name: string) => unknown): FilterForm {
  const filter: FilterForm = {};
  for (const name of FILTER_FIELDS) {
    const value = read(name);
    if (typeof value === 'string' && value.trim() !== '') filter[name] = name.startsWith('created') ? toIso(value.trim()) : value.trim();
  }
  return filter;
}
