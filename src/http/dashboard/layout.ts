// The page shell every dashboard page shares, and the small formatting helpers its pages use.
import { html, type Html } from './html.ts';

export interface PageOptions {
  title: string;
  /** The session's CSRF token: every form on the page posts it back. Absent on the login page. */
  csrfToken?: string;
  /** Reload the page every this many seconds (while something is still moving). */
  refreshSeconds?: number;
  /** A notice at the top: what an action just did, or why it could not. */
  notice?: { kind: 'ok' | 'error'; text: string };
}

export function page(options: PageOptions, body: Html): string {
  const nav = options.csrfToken === undefined ? '' : html`<nav>
      <a href="/dashboard">Overview</a>
      <a href="/dashboard/jobs">Jobs</a>
      <a href="/dashboard/jobs?status=dead_lettered">Dead letters</a>
      <a href="/dashboard/bulk">Bulk actions</a>
      <form method="post" action="/dashboard/logout" class="inline">${csrfField(options.csrfToken)}<button type="submit" class="link">Log out</button></form>
    </nav>`;
  return html`<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  ${options.refreshSeconds ? html`<meta http-equiv="refresh" content="${options.refreshSeconds}">` : ''}
  <title>${options.title} · Switchyard</title>
  <link rel="stylesheet" href="/dashboard/assets/style.css">
</head>
<body>
  <header><a class="brand" href="/dashboard">Switchyard</a>${nav}</header>
  <main>
    ${options.notice ? html`<p class="notice ${options.notice.kind}" role="status">${options.notice.text}</p>` : ''}
    ${body}
  </main>
</body>
</html>`.text;
}

export const csrfField = (token: string) => html`<input type="hidden" name="csrf" value="${token}">`;

/** A small form with one button that posts to `action`, carrying the CSRF token and `fields`. */
export function actionButton(action: string, label: string, csrfToken: string, fields: Record<string, string> = {}, className = ''): Html {
  const hidden = Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`);
  return html`<form method="post" action="${action}" class="inline">${csrfField(csrfToken)}${hidden}<button type="submit" class="${className}">${label}</button></form>`;
}

export const statusBadge = (status: string) => html`<span class="badge ${status}">${status.replace('_', ' ')}</span>`;

export function when(value: string | Date | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return (typeof value === 'string' ? value : value.toISOString()).replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
}

export function duration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}

export const jobLink = (id: string) => html`<a class="mono" href="/dashboard/jobs/${id}">${id}</a>`;
