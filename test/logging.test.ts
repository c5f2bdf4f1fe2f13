// Structured logs: every API request and every executed attempt is one JSON line with the fields an
// operator filters on, no line carries a key or token, a terminal gets readable lines, and
// LOG_LEVEL is checked at start.
import t from 'tap';
import { AppKeys } from '../src/apps/app-keys.ts';
import { ConfigError, parseConfig } from '../src/config/config.ts';
import { childTestDatabase, startChild, waitForListening } from './helpers/child.ts';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const service = await startTestService(t);
const target = await startTarget(() => ({ status: 201, body: 'made' }));
t.teardown(() => target.close());
const records = () => service.logRecords.map((line) => JSON.parse(line) as Record<string, unknown>);

t.test('a request is one line: method, route, status, duration and app, and never the key', async (t) => {
  const { key } = await new AppKeys(service.pool).createAppKey('logged-app');
  const { appId: _fromTheKey, ...body } = restJob(target.url, { delaySeconds: 3600 });
  const created = await service.post('/v1/jobs/create', body, { authorization: `Bearer ${key}` });
  t.equal(created.status, 202);
  await service.get(`/v1/jobs/${created.body.id}`, { authorization: `Bearer ${key}` });
  const requests = await waitFor(() => {
    const found = records().filter((record) => record.app === 'logged-app' && typeof record.route === 'string');
    return found.length >= 2 ? found : undefined;
  }, { what: 'both request lines' });
  t.match(requests[0], { level: 30, method: 'POST', route: '/v1/jobs/create', status: 202, durationMs: Number, app: 'logged-app' });
  t.match(requests[1], { method: 'GET', route: '/v1/jobs/:id', status: 200, app: 'logged-app' });
  const refused = await service.post('/internal/v1/run-db-jobs', { limit: 1 }, { authorization: 'Bearer not-the-token' });
  t.equal(refused.status, 401);
  const everything = service.logRecords.join('\n');
  t.notOk(everything.includes(key), 'the API key is in no log line');
  t.notOk(everything.includes('not-the-token'), 'a bearer token sent is in no log line');
  t.notOk(everything.includes(INTERNAL_TOKEN), 'the internal token is in no log line');
});

t.test('every executed attempt is one line with job, app, lane, type, attempt, outcome and duration', async (t) => {
  const created = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'attempt-log' }));
  await service.waitForStatus(created.body.id, 'completed');
  const line = await waitFor(() => records().find((record) => record.jobId === created.body.id && record.outcome), { what: 'the attempt line' });
  t.match(line, {
    level: 30, jobId: created.body.id, appId: 'attempt-log', lane: 'db', type: 'rest-api',
    attempt: 1, maxAttempts: 5, outcome: 'completed', httpStatus: 201, durationMs: Number,
  });
  t.match(line.msg, /attempt 1\/5 \(db lane\): completed$/);
});

t.test('LOG_LEVEL and LOG_FORMAT are checked at start', async (t) => {
  t.throws(() => parseConfig({ LOG_LEVEL: 'verbose' }), new ConfigError('LOG_LEVEL', 'must be one of trace, debug, info, warn, error, fatal, silent, got "verbose"'));
  t.throws(() => parseConfig({ LOG_FORMAT: 'xml' }), new ConfigError('LOG_FORMAT', 'must be one of json, pretty, auto, got "xml"'));
  t.match(parseConfig({}), { logLevel: 'info', logFormat: 'auto' });
});

t.test('LOG_FORMAT=pretty prints readable lines, json prints one JSON object per line', async (t) => {
  const { env } = await childTestDatabase(t);
  for (const format of ['pretty', 'json']) {
    const child = startChild(env({ LOG_FORMAT: format, RUN_WORKERS: 'false' }));
    await waitForListening(child);
    child.process.kill('SIGTERM');
    await child.exited;
    const lines = child.output().split('\n').filter((line) => line.includes('API listening on'));
    t.equal(lines.length, 1, `${format}: one listening line`);
    if (format === 'pretty') {
      t.match(lines[0], /INFO.*switchyard: API listening on http:\/\/127\.0\.0\.1:\d+/);
      t.throws(() => JSON.parse(lines[0]!), 'not JSON');
    } else {
      t.match(JSON.parse(lines[0]!), { level: 30, url: String, msg: /^switchyard: API listening on / });
    }
  }
});
