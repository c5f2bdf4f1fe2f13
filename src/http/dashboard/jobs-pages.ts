// The job list (filtered, keyset-paged) and a job's own page: its record, its timeline of
// attempts, and the actions its state allows.
import { CANCELLABLE, DEAD_LETTERABLE, RETRYABLE } from '../../admin/job-admin.ts';
import { JOB_STATUSES, type AttemptView, type JobPage, type JobView } from '../../admin/job-view.ts';
import type { JobStatus } from '../../jobs/job-repository.ts';
import { html, type Html } from './html.ts';
import { actionButton, csrfField, duration, jobLink, page, statusBadge, when, type PageOptions } from './layout.ts';

export const FILTER_FIELDS = ['appId', 'status', 'executionType', 'messageGroupId', 'createdAfter', 'createdBefore'] as const;
export type FilterForm = Partial<Record<(typeof FILTER_FIELDS)[number], string>>;
const TYPES = ['rest-api', 'lambda-url', 'lambda-invoke', 'schedule'];

/** A datetime-local value (no zone; the page says UTC) as the ISO timestamp the API takes. */
export function toIso(local: string): string {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(local) ? `${local}:00Z` : local;
}
const toLocal = (iso: string | undefined) => (iso ?? '').replace(/:00Z$/, '');

function filterForm(filter: FilterForm): Html {
  const select = (name: string, options: readonly string[], value: string | undefined) => html`<select name="${name}">
      <option value="">any</option>${options.map((option) => html`<option value="${option}"${option === value ? html` selected` : ''}>${option}</option>`)}</select>`;
  return html`<form method="get" action="/dashboard/jobs" class="filters">
    <label>App<input name="appId" value="${filter.appId ?? ''}"></label>
    <label>Status${select('status', JOB_STATUSES, filter.status)}</label>
    <label>Type${select('executionType', TYPES, filter.executionType)}</label>
    <label>Group<input name="messageGroupId" value="${filter.messageGroupId ?? ''}"></label>
    <label>Created after (UTC)<input type="datetime-local" name="createdAfter" value="${toLocal(filter.createdAfter)}"></label>
    <label>Created before (UTC)<input type="datetime-local" name="createdBefore" value="${toLocal(filter.createdBefore)}"></label>
    <button type="submit">Filter</button> <a href="/dashboard/jobs">clear</a>
  </form>`;
}

const filterFields = (filter: FilterForm) => FILTER_FIELDS.filter((name) => filter[name]).map((name) => html`<input type="hidden" name="${name}" value="${filter[name]!}">`);

export function jobListPage(filter: FilterForm, result: JobPage | { error: string }, csrfToken: string): string {
  const query = new URLSearchParams(Object.entries(filter).filter(([, value]) => value) as [string, string][]);
  const hasFilter = [...query.keys()].length > 0;
  const body = 'error' in result ? html`<p class="notice error">${result.error}</p>` : html`
    <table><thead><tr><th>Job</th><th>App</th><th>Type</th><th>Status</th><th class="num">Attempts</th><th>Group</th><th>Created</th><th>Last error</th></tr></thead>
    <tbody>${result.jobs.map((job) => html`<tr>
      <td>${jobLink(job.id)}</td><td>${job.appId}</td><td>${job.executionType}</td><td>${statusBadge(job.status)}</td>
      <td class="num">${job.attempts}/${job.maxAttempts}</td><td>${job.messageGroupId ?? ''}</td><td>${when(job.createdAt)}</td>
      <td class="error-text">${job.lastError ?? ''}</td></tr>`)}</tbody></table>
    ${result.jobs.length === 0 ? html`<p class="muted">No job matches.</p>` : ''}
    ${result.nextCursor ? html`<p class="pager"><a href="/dashboard/jobs?${new URLSearchParams([...query, ['cursor', result.nextCursor]]).toString()}">Older →</a></p>` : ''}`;
  const bulk = hasFilter ? html`<form method="post" action="/dashboard/bulk/review" class="filters">${csrfField(csrfToken)}${filterFields(filter)}
      <label>Every job matching this filter<select name="action"><option value="retry">retry</option><option value="cancel">cancel</option><option value="deadletter">dead-letter</option></select></label>
      <button type="submit" class="secondary">Review bulk action…</button></form>` : '';
  return page({ title: 'Jobs', csrfToken }, html`<h1>Jobs</h1>${filterForm(filter)}${bulk}${body}`);
}

function timeline(attempts: AttemptView[]): Html {
  if (attempts.length === 0) return html`<p class="muted">No attempt yet.</p>`;
  const items = attempts.map((attempt, index) => {
    const previous = attempts[index - 1];
    const waited = previous && attempt.startedAt ? (Date.parse(attempt.startedAt) - Date.parse(previous.finishedAt)) / 1000 : undefined;
    return html`${waited !== undefined && waited >= 0 ? html`<li class="wait">waited ${duration(waited)}</li>` : ''}
      <li class="${attempt.outcome}">
        <strong>Attempt ${attempt.attempt}</strong> ${statusBadge(attempt.outcome)} <span class="muted">${attempt.lane} lane</span>
        <div class="muted">${when(attempt.startedAt)} → ${when(attempt.finishedAt)}${attempt.durationMs !== null ? ` · ${duration(attempt.durationMs / 1000)}` : ''}${attempt.httpStatus !== null ? ` · HTTP ${attempt.httpStatus}` : ''}</div>
        ${attempt.error ? html`<div class="error-text">${attempt.error}</div>` : ''}
      </li>`;
  });
  return html`<ol class="timeline">${items}</ol>`;
}

export function jobPage(job: JobView, attempts: AttemptView[], csrfToken: string, notice?: PageOptions['notice']): string {
  const status = job.status as JobStatus;
  const path = `/dashboard/jobs/${job.id}`;
  const buttons = [
    RETRYABLE.includes(status) ? actionButton(`${path}/retry`, 'Retry', csrfToken) : '',
    CANCELLABLE.includes(status) ? actionButton(`${path}/cancel`, 'Cancel', csrfToken, {}, 'secondary') : '',
    DEAD_LETTERABLE.includes(status) ? actionButton(`${path}/deadletter`, 'Dead-letter', csrfToken, {}, 'danger') : '',
  ];
  const moving = !['completed', 'failed', 'dead_lettered', 'cancelled'].includes(job.status);
  const response = job.lastResponse;
  return page({ title: `Job ${job.id}`, csrfToken, notice, refreshSeconds: moving ? 2 : undefined }, html`
    <h1>Job <span class="mono">${job.id}</span> ${statusBadge(job.status)}</h1>
    <div class="actions">${buttons}</div>
    <div class="cards">
      <div class="card"><dl class="facts">
        <dt>App</dt><dd><a href="/dashboard/jobs?appId=${encodeURIComponent(job.appId)}">${job.appId}</a></dd>
        <dt>Type</dt><dd>${job.executionType} · mode ${job.mode}</dd>
        <dt>Attempts</dt><dd>${job.attempts} of ${job.maxAttempts}</dd>
        <dt>Group</dt><dd>${job.messageGroupId ? html`<a href="/dashboard/jobs?messageGroupId=${encodeURIComponent(job.messageGroupId)}">${job.messageGroupId}</a>` : '—'}</dd>
        <dt>Idempotency key</dt><dd>${job.idempotencyKey ?? '—'}</dd>
        <dt>Trace</dt><dd class="mono">${job.traceparent ?? '—'}</dd>
      </dl></div>
      <div class="card"><dl class="facts">
        <dt>Created</dt><dd>${when(job.createdAt)}</dd>
        <dt>Run at</dt><dd>${when(job.runAt)}</dd>
        <dt>Started</dt><dd>${when(job.startedAt)}</dd>
        <dt>Next retry</dt><dd>${when(job.nextRetryAt)}</dd>
        <dt>Ended</dt><dd>${when(job.completedAt)}</dd>
        <dt>Last answer</dt><dd>${response ? `HTTP ${response.status} in ${response.durationMs} ms` : '—'}</dd>
      </dl></div>
    </div>
    ${job.lastError ? html`<h2>Last error</h2><p class="error-text">${job.lastError}</p>` : ''}
    <h2>Attempts</h2>
    ${timeline(attempts)}
    ${response?.body ? html`<h2>Last response body${response.truncated ? ' (excerpt)' : ''}</h2><pre>${response.body}</pre>` : ''}
    <h2>Message <span class="muted">(secret header values redacted)</span></h2>
    <pre>${JSON.stringify(job.message, null, 2)}</pre>`);
}
