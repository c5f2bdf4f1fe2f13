// The overview: what is waiting where and for how long, the last hour, and what failed lately.
import type { Overview } from '../../admin/job-stats.ts';
import type { BulkActionView } from '../../admin/bulk-actions.ts';
import { barChart } from './charts.ts';
import { html } from './html.ts';
import { duration, jobLink, page, statusBadge, when } from './layout.ts';

export function overviewPage(data: Overview, running: BulkActionView[], csrfToken: string): string {
  const minutes = data.lastHour;
  const axis = { first: minutes.length ? when(minutes[0]!.minute).slice(11, 16) : '', last: 'now' };
  const totals = data.queues.reduce((sum, row) => ({ ready: sum.ready + row.ready, delayed: sum.delayed + row.delayed, running: sum.running + row.running }), { ready: 0, delayed: 0, running: 0 });
  const failedLastHour = minutes.reduce((sum, m) => sum + m.failed, 0);
  const queueRows = data.queues.map((row) => html`<tr>
      <td>${row.lane}</td><td><a href="/dashboard/jobs?appId=${encodeURIComponent(row.appId)}">${row.appId}</a></td>
      <td class="num">${row.ready}</td><td class="num">${row.delayed}</td><td class="num">${row.running}</td>
      <td class="num">${row.ready ? duration(row.oldestReadySeconds) : '—'}</td></tr>`);
  const oldest = data.oldestWaiting.map((job) => html`<tr>
      <td>${job.lane}</td><td>${jobLink(job.id)}</td><td>${job.app_id}</td><td>${statusBadge(job.status)}</td>
      <td class="num">${duration((Date.now() - job.due_at.getTime()) / 1000)}</td><td class="error-text">${job.last_error ?? ''}</td></tr>`);
  const failures = data.recentFailures.map((job) => html`<tr>
      <td>${jobLink(job.id)}</td><td>${job.app_id}</td><td>${job.execution_type}</td><td>${statusBadge(job.status)}</td>
      <td class="num">${job.attempts}</td><td>${when(job.completed_at)}</td><td class="error-text">${job.last_error ?? ''}</td></tr>`);
  return page({ title: 'Overview', csrfToken, refreshSeconds: 15 }, html`
    <h1>Overview</h1>
    <div class="cards">
      <div class="card"><div class="muted">Due, waiting</div><div class="stat">${totals.ready}</div></div>
      <div class="card"><div class="muted">Delayed</div><div class="stat">${totals.delayed}</div></div>
      <div class="card"><div class="muted">Running</div><div class="stat">${totals.running}</div></div>
      <div class="card"><div class="muted">Failed or dead-lettered, last hour</div><div class="stat">${failedLastHour}</div></div>
    </div>
    <h2>Last hour</h2>
    <div class="cards">
      ${barChart('Throughput', [
        { label: 'completed', className: 'completed', values: minutes.map((m) => m.completed) },
        { label: 'created', className: 'created', values: minutes.map((m) => m.created) },
      ], axis)}
      ${barChart('Failures', [
        { label: 'failed or dead-lettered', className: 'failed', values: minutes.map((m) => m.failed) },
        { label: 'retried', className: 'retried', values: minutes.map((m) => m.retried) },
      ], axis)}
    </div>
    ${running.length ? html`<h2>Bulk actions running</h2><ul>${running.map((run) => html`<li><a href="/dashboard/bulk/${run.id}">${run.action} · ${run.changed + run.skipped} of ${run.total}</a></li>`)}</ul>` : ''}
    <h2>Queues</h2>
    ${queueRows.length ? html`<table><thead><tr><th>Lane</th><th>App</th><th class="num">Due</th><th class="num">Delayed</th><th class="num">Running</th><th class="num">Oldest due</th></tr></thead><tbody>${queueRows}</tbody></table>`
      : html`<p class="muted">Nothing is waiting or running.</p>`}
    <h2>Oldest job due, per lane</h2>
    ${oldest.length ? html`<table><thead><tr><th>Lane</th><th>Job</th><th>App</th><th>Status</th><th class="num">Waiting</th><th>Last error</th></tr></thead><tbody>${oldest}</tbody></table>`
      : html`<p class="muted">No job is waiting past its time.</p>`}
    <h2>Recent failures</h2>
    ${failures.length ? html`<table><thead><tr><th>Job</th><th>App</th><th>Type</th><th>Status</th><th class="num">Attempts</th><th>Ended</th><th>Last error</th></tr></thead><tbody>${failures}</tbody></table>`
      : html`<p class="muted">No job failed lately.</p>`}
  `);
}
