// `switchyard jobs …` and `switchyard bulk …`: everything about jobs goes through the running
// service's HTTP API, so the CLI needs no database access and obeys the key's scope like any client.
import { call, type ServiceSettings } from './service-client.ts';
import { CliError, EXIT, progressBar, table, type Output } from './output.ts';

/** The flags that make a filter, and the API field each one fills. */
export const FILTER_FLAGS = { app: 'appId', status: 'status', type: 'executionType', group: 'messageGroupId', since: 'createdAfter', until: 'createdBefore' } as const;
export type FilterFlags = Partial<Record<keyof typeof FILTER_FLAGS, string>>;

const BULK_POLL_MS = 500;
const ACTIONS = new Set(['retry', 'cancel', 'deadletter']);

function toFilter(flags: FilterFlags): Record<string, string> {
  return Object.fromEntries(Object.entries(FILTER_FLAGS).flatMap(([flag, field]) => {
    const value = flags[flag as keyof FilterFlags];
    return value === undefined ? [] : [[field, value]];
  }));
}

const short = (text: string | null | undefined, length: number) => (text && text.length > length ? `${text.slice(0, length - 1)}…` : text ?? '');

export async function listJobs(settings: ServiceSettings, output: Output, flags: FilterFlags & { limit?: string; cursor?: string }): Promise<number> {
  const query = new URLSearchParams(toFilter(flags));
  if (flags.limit) query.set('limit', flags.limit);
  if (flags.cursor) query.set('cursor', flags.cursor);
  const page = await call(settings, 'GET', `/v1/jobs?${query}`);
  if (output.json) {
    output.out(JSON.stringify(page, null, 2));
    return EXIT.ok;
  }
  output.out(table(['ID', 'APP', 'TYPE', 'STATUS', 'ATTEMPTS', 'CREATED', 'LAST ERROR'], page.jobs.map((job: any) => [
    job.id, job.appId, job.executionType, job.status, `${job.attempts}/${job.maxAttempts}`, job.createdAt, short(job.lastError, 60),
  ])));
  if (page.nextCursor) output.err(`more: --cursor ${page.nextCursor}`);
  return EXIT.ok;
}

export async function showJob(settings: ServiceSettings, output: Output, id: string): Promise<number> {
  const job = await call(settings, 'GET', `/v1/jobs/${encodeURIComponent(id)}`);
  if (output.json) {
    output.out(JSON.stringify(job, null, 2));
    return EXIT.ok;
  }
  const facts: [string, unknown][] = [
    ['id', job.id], ['app', job.appId], ['status', job.status], ['type', `${job.executionType} (mode ${job.mode})`],
    ['attempts', `${job.attempts} of ${job.maxAttempts}`], ['group', job.messageGroupId], ['idempotency key', job.idempotencyKey],
    ['created', job.createdAt], ['run at', job.runAt], ['started', job.startedAt], ['next retry', job.nextRetryAt], ['ended', job.completedAt],
    ['last answer', job.lastResponse ? `HTTP ${job.lastResponse.status} in ${job.lastResponse.durationMs} ms` : null], ['last error', job.lastError],
    ['traceparent', job.traceparent],
  ];
  output.out(facts.map(([name, value]) => `${name.padEnd(16)}${value ?? '—'}`).join('\n'));
  return EXIT.ok;
}

export async function showAttempts(settings: ServiceSettings, output: Output, id: string): Promise<number> {
  const history = await call(settings, 'GET', `/v1/jobs/${encodeURIComponent(id)}/attempts`);
  if (output.json) {
    output.out(JSON.stringify(history, null, 2));
    return EXIT.ok;
  }
  output.out(table(['#', 'LANE', 'STARTED', 'FINISHED', 'OUTCOME', 'HTTP', 'MS', 'ERROR'], history.attempts.map((a: any) => [
    a.attempt, a.lane, a.startedAt, a.finishedAt, a.outcome, a.httpStatus, a.durationMs, short(a.error, 60),
  ])));
  return EXIT.ok;
}

/** One job by id, or every job a filter matches (a bulk action, followed with a progress bar). */
export async function act(settings: ServiceSettings, output: Output, action: string, id: string | undefined, flags: FilterFlags & { dryRun?: boolean; wait?: boolean }): Promise<number> {
  if (!ACTIONS.has(action)) throw new CliError(EXIT.usage, `unknown action ${action}`);
  const filter = toFilter(flags);
  if (id !== undefined) {
    if (Object.keys(filter).length) throw new CliError(EXIT.usage, `give a job id or filter flags, not both`);
    const job = await call(settings, 'POST', `/v1/jobs/${encodeURIComponent(id)}/${action}`, {});
    output.out(output.json ? JSON.stringify(job, null, 2) : `job ${job.id} is now ${job.status}`);
    return EXIT.ok;
  }
  if (Object.keys(filter).length === 0) throw new CliError(EXIT.usage, `${action} needs a job id, or filter flags (--status, --app, --type, --group, --since, --until) for every matching job`);
  const started = await call(settings, 'POST', '/v1/bulk-actions', { action, filter, ...(flags.dryRun ? { dryRun: true } : {}) });
  if (started.dryRun) {
    output.out(output.json ? JSON.stringify(started, null, 2) : `${action} would reach ${started.matched} job(s); nothing was changed`);
    return EXIT.ok;
  }
  if (flags.wait === false) {
    output.out(output.json ? JSON.stringify(started, null, 2) : `bulk ${action} ${started.id} started: ${started.total} job(s) match; follow it with: switchyard bulk show ${started.id}`);
    return EXIT.ok;
  }
  return follow(settings, output, started);
}

async function follow(settings: ServiceSettings, output: Output, started: any): Promise<number> {
  const bar = progressBar(output, `${started.action}`);
  let run = started;
  for (;;) {
    bar.update(run.changed + run.skipped, run.total, `(${run.changed} changed, ${run.skipped} skipped)`);
    if (run.status !== 'running') break;
    await new Promise((resolve) => setTimeout(resolve, BULK_POLL_MS));
    run = await call(settings, 'GET', `/v1/bulk-actions/${run.id}`);
  }
  bar.finish();
  output.out(output.json ? JSON.stringify(run, null, 2) : `bulk ${run.action} ${run.id} ${run.status}: ${run.changed} changed, ${run.skipped} skipped of ${run.total}`);
  return run.status === 'completed' ? EXIT.ok : EXIT.refused;
}

export async function bulk(settings: ServiceSettings, output: Output, command: string, id: string): Promise<number> {
  if (command === 'show') {
    const run = await call(settings, 'GET', `/v1/bulk-actions/${encodeURIComponent(id)}`);
    output.out(output.json ? JSON.stringify(run, null, 2) : `bulk ${run.action} ${run.id} ${run.status}: ${run.changed} changed, ${run.skipped} skipped of ${run.total}`);
    return EXIT.ok;
  }
  if (command === 'cancel') {
    const run = await call(settings, 'POST', `/v1/bulk-actions/${encodeURIComponent(id)}/cancel`, {});
    output.out(output.json ? JSON.stringify(run, null, 2) : `bulk ${run.action} ${run.id} ${run.status}: ${run.changed} changed, ${run.skipped} skipped of ${run.total}`);
    return EXIT.ok;
  }
  throw new CliError(EXIT.usage, `unknown bulk command ${command}`);
}
