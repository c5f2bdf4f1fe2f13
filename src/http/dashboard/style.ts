// The dashboard's one stylesheet, served at /dashboard/assets/style.css (the Content-Security-Policy
// allows no inline style). A module rather than a file read at start: the Lambda bundle of the api
// function carries its code, not the files beside it.
export const STYLESHEET = `/* The dashboard's one stylesheet, served by the service itself (the CSP allows nothing else). */
:root { --fg: #1d232b; --muted: #66707c; --line: #dde2e8; --bg: #f6f7f9; --card: #fff; --accent: #2557d6;
  --ok: #1f8a4c; --warn: #b7791f; --bad: #c0392b; --info: #2b6cb0; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #111827; color: #fff; }
header a { color: #d1d9e6; text-decoration: none; }
header a:hover { color: #fff; }
.brand { font-weight: 700; color: #fff; font-size: 16px; }
nav { display: flex; gap: 18px; align-items: center; flex: 1; }
nav form { margin-left: auto; }
main { padding: 20px 24px; max-width: 1280px; }
h1 { font-size: 20px; margin: 0 0 14px; }
h2 { font-size: 15px; margin: 22px 0 8px; }
.cards { display: flex; flex-wrap: wrap; gap: 14px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; }
.stat { font-size: 26px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line); }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f5; font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.muted { color: var(--muted); }
.error-text { color: var(--bad); font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap; word-break: break-word; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #e2e8f0; }
.badge.completed { background: #d8f3e3; color: var(--ok); }
.badge.failed, .badge.dead_lettered { background: #fbe1de; color: var(--bad); }
.badge.retrying, .badge.abandoned, .badge.lost { background: #fcefd5; color: var(--warn); }
.badge.running, .badge.pending, .badge.scheduled { background: #dce8fa; color: var(--info); }
.badge.cancelled { background: #e5e7eb; color: var(--muted); }
.notice { padding: 8px 12px; border-radius: 6px; }
.notice.ok { background: #d8f3e3; }
.notice.error { background: #fbe1de; }
form.inline { display: inline; margin: 0; }
form.filters { display: flex; flex-wrap: wrap; gap: 10px; align-items: end; margin-bottom: 12px; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
input, select { font: inherit; padding: 4px 6px; border: 1px solid #c3cad3; border-radius: 4px; background: #fff; }
button { font: inherit; padding: 4px 12px; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
button.link { background: none; border: none; color: #d1d9e6; padding: 0; }
.chart { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.chart figcaption { font-weight: 600; margin-bottom: 6px; }
.chart svg { display: block; background: #fafbfc; }
.axis { display: flex; justify-content: space-between; font-size: 11px; color: var(--muted); }
.legend { margin-right: 12px; font-size: 12px; }
.legend::before { content: ""; display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
g.completed rect { fill: var(--ok); } .legend.completed::before { background: var(--ok); }
g.created rect { fill: #9bb3e8; } .legend.created::before { background: #9bb3e8; }
g.failed rect { fill: var(--bad); } .legend.failed::before { background: var(--bad); }
g.retried rect { fill: var(--warn); } .legend.retried::before { background: var(--warn); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
ol.timeline { list-style: none; padding: 0; margin: 0; border-left: 3px solid var(--line); }
ol.timeline li { position: relative; margin: 0 0 12px 16px; padding: 8px 12px; background: var(--card); border: 1px solid var(--line); border-radius: 6px; }
ol.timeline li::before { content: ""; position: absolute; left: -24px; top: 14px; width: 11px; height: 11px; border-radius: 50%; background: var(--muted); }
ol.timeline li.completed::before { background: var(--ok); }
ol.timeline li.failed::before, ol.timeline li.dead_lettered::before { background: var(--bad); }
ol.timeline li.retrying::before, ol.timeline li.lost::before, ol.timeline li.abandoned::before { background: var(--warn); }
ol.timeline .wait { margin: -6px 0 6px 16px; font-size: 12px; color: var(--muted); background: none; border: none; padding: 0; }
ol.timeline .wait::before { display: none; }
.actions { display: flex; gap: 8px; margin: 12px 0; }
pre { background: #0f172a; color: #e2e8f0; padding: 10px; border-radius: 6px; overflow: auto; font-size: 12px; max-height: 320px; }
progress { width: 320px; height: 16px; }
.pager { margin-top: 10px; }
.login { max-width: 380px; margin: 60px auto; }
.login input { width: 100%; margin: 8px 0 12px; }
`;
