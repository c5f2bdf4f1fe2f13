// With a tracer provider registered (the real OpenTelemetry SDK), each attempt is a span whose
// parent is the job's stored traceparent, and the target receives the span's own id as its parent:
// the job's call shows up in the caller's trace, under its attempt.
import t from 'tap';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
trace.setGlobalTracerProvider(provider);
t.teardown(() => provider.shutdown());

const service = await startTestService(t);
const target = await startTarget(() => ({ status: 404, body: 'gone' }));
t.teardown(() => target.close());
const CALLER = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

t.test('an attempt is a span in the caller\'s trace, and the target is its child', async (t) => {
  const created = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'traced' }), { traceparent: CALLER, tracestate: 'congo=1' });
  await service.waitForStatus(created.body.id, 'failed');
  const [span] = exporter.getFinishedSpans().filter((s) => s.attributes['switchyard.job.id'] === created.body.id);
  t.ok(span, 'the attempt was recorded as a span');
  t.equal(span!.spanContext().traceId, '4bf92f3577b34da6a3ce929d0e0e4736', 'in the caller\'s trace');
  t.equal(span!.parentSpanContext?.spanId, '00f067aa0ba902b7', 'a child of the caller\'s span');
  t.match(span!.attributes, { 'switchyard.app.id': 'traced', 'switchyard.job.attempt': 1, 'switchyard.outcome': 'fail', 'http.response.status_code': 404 });
  t.equal(span!.status.code, 2, 'a failed attempt is an error span');
  const sent = target.requests[0]!.headers;
  t.equal(sent.traceparent, `00-4bf92f3577b34da6a3ce929d0e0e4736-${span!.spanContext().spanId}-01`, 'the target\'s parent is the attempt\'s span');
  t.equal(sent.tracestate, 'congo=1');
});
