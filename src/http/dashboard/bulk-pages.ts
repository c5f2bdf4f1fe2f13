// Bulk actions on the dashboard: review what a filter would reach, start the run, follow it.
import type { BulkActionView } from '../../admin/bulk-actions.ts';
import { html } from './html.ts';
import { actionButton, csrfField, page, statusBadge, when } from './layout.ts';
import type { FilterForm } from './jobs-pages.ts';

const ACTION_LABEL: Record<string, string> = { retry: 'Retry', cancel: 'Cancel', deadletter: 'Dead-letter' };
const describe = (filter: Record<string, string | undefined>) => Object.entries(filter).filter(([, value]) => value).map(([name, value]) => `${name} = ${value}`).join(', ');

export function bulkReviewPage(action: string, filter: FilterForm, matched: number, csrfToken: string): string {
  const hidden = Object.entries(filter).filter(([, value]) => value).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value!}">`);
  return page({ title: 'Review bulk action', csrfToken }, html`
    <h1>${ACTION_LABEL[action] ?? action} ${matched} job(s)?</h1>
    <p>Every job with ${describe(filter)} that the action can take now: ${matched}. Jobs created from now on are not part of it;
       a job that moves on before the run reaches it is skipped and counted.</p>
    ${matched > 0 ? html`<form method="post" action="/dashboard/bulk">${csrfField(csrfToken)}${hidden}<input type="hidden" name="action" value="${action}">
      <button type="submit" class="${action === 'retry' ? '' : 'danger'}">${ACTION_LABEL[action] ?? action} ${matched} job(s)</button>
      <a href="/dashboard/jobs?${new URLSearchParams(Object.entries(filter).filter(([, value]) => value) as [string, string][]).toString()}">back</a></form>`
      : html`<p><a href="/dashboard/jobs">back to the jobs</a></p>`}`);
}

export function bulkActionPage(run: BulkActionView, csrfToken: string): string {
  const done = run.changed + run.skipped;
  return page({ title: `Bulk ${run.action}`, csrfToken, refreshSeconds: run.status === 'running' ? 2 : undefined }, html`
    <h1>Bulk ${run.action} ${statusBadge(run.status)}</h1>
    <p><progress max="${Math.max(run.total, 1)}" value="${run.status === 'completed' ? Math.max(run.total, 1) : Math.min(done, run.total)}"></progress>
       <strong>${done} of ${run.total}</strong> reached: <span class="bulk-changed">${run.changed} changed</span>, ${run.skipped} skipped</p>
    <dl class="facts">
      <dt>Filter</dt><dd>${describe(run.filter)}</dd>
      <dt>Requested by</dt><dd class="mono">${run.requestedBy}</dd>
      <dt>Started</dt><dd>${when(run.createdAt)}</dd>
      <dt>Ended</dt><dd>${when(run.finishedAt)}</dd>
      ${run.lastError ? html`<dt>Interrupted by</dt><dd class="error-text">${run.lastError} (it resumes on its own)</dd>` : ''}
    </dl>
    ${run.status === 'running' ? html`<div class="actions">${actionButton(`/dashboard/bulk/${run.id}/cancel`, 'Stop', csrfToken, {}, 'danger')}</div>` : ''}
    <p><a href="/dashboard/jobs?${new URLSearchParams(Object.entries(run.filter)).toString()}">the jobs it reached</a></p>`);
}

export function bulkListPage(runs: BulkActionView[], csrfToken: string): string {
  return page({ title: 'Bulk actions', csrfToken }, html`
    <h1>Bulk actions</h1>
    <p class="muted">Start one from a filtered job list.</p>
    ${runs.length ? html`<table><thead><tr><th>Action</th><th>Status</th><th>Filter</th><th class="num">Changed</th><th class="num">Skipped</th><th class="num">Total</th><th>Started</th></tr></thead>
      <tbody>${runs.map((run) => html`<tr><td><a href="/dashboard/bulk/${run.id}">${run.action}</a></td><td>${statusBadge(run.status)}</td><td>${describe(run.filter)}</td>
        <td class="num">${run.changed}</td><td class="num">${run.skipped}</td><td class="num">${run.total}</td><td>${when(run.createdAt)}</td></tr>`)}</tbody></table>`
      : html`<p class="muted">None yet.</p>`}`);
}

export function loginPage(loginCsrf: string, error?: string): string {
  return page({ title: 'Log in', notice: error ? { kind: 'error', text: error } : undefined }, html`
    <div class="login card">
      <h1>Log in</h1>
      <form method="post" action="/dashboard/login">
        <input type="hidden" name="csrf" value="${loginCsrf}">
        <label for="key">Admin API key</label>
        <input id="key" name="key" type="password" autocomplete="off" required autofocus>
        <button type="submit">Log in</button>
      </form>
      <p class="muted">The key is checked once and not kept: the browser gets a session cookie instead.</p>
    </div>`);
}
