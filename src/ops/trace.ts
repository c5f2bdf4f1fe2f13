// W3C trace context (https://www.w3.org/TR/trace-context/): a job keeps the traceparent and
// tracestate of the request that created it, and every attempt is sent to its target in that
// trace, so the job's call shows up in the caller's trace. A create without a traceparent, or with
// an invalid one, gets a fresh one: the specification says a receiver MUST ignore an invalid
// traceparent rather than fail the request, and a fresh trace still ties a job's attempts together.
//
// Spans go through @opentelemetry/api. With no tracer provider registered its tracer is a no-op
// whose span carries its parent's context unchanged: the target then gets the stored traceparent
// as it was, its span a child of the caller's. With a provider, each attempt is a span of its own
// (kind CLIENT) and the target's span is its child.
import { randomBytes } from 'node:crypto';
import { context, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';

export interface TraceContext {
  traceparent: string;
  tracestate: string | null;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ALL_ZERO = /^0+$/;
// A tracestate list member: key=value, keys lowercase (with an optional tenant@system), values of
// printable ASCII without , or =. At most 32 members, and a receiver may drop one longer than 512.
const TRACESTATE_MEMBER = /^[a-z0-9][a-z0-9_\-*/@]{0,255}=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const MAX_TRACESTATE_LENGTH = 512;

/**
 * The traceparent as version 00, or undefined when invalid: wrong shape, uppercase hex, version ff,
 * an all-zero trace id or parent id, or a version 00 value with anything after the flags. A later
 * version is read by its first four fields, as the specification says.
 */
export function parseTraceparent(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const match = TRACEPARENT.exec(value.trim());
  if (!match) return undefined;
  const [, version, traceId, parentId, flags, rest] = match;
  if (version === 'ff' || ALL_ZERO.test(traceId!) || ALL_ZERO.test(parentId!)) return undefined;
  if (version === '00' && rest !== undefined) return undefined;
  return `00-${traceId}-${parentId}-${flags}`;
}

/** The tracestate when every member is well-formed and it is not too long; else none (the traceparent still counts). */
export function parseTracestate(value: string | undefined): string | null {
  if (value === undefined) return null;
  const members = value.split(',').map((member) => member.trim()).filter(Boolean);
  if (members.length === 0 || members.length > 32 || value.length > MAX_TRACESTATE_LENGTH) return null;
  return members.every((member) => TRACESTATE_MEMBER.test(member)) ? members.join(',') : null;
}

/**
 * A new trace for a job created without one. Sampled (01), so a target that samples by its parent
 * records the job's calls: that is the point of sending a trace with them.
 */
export function freshTraceContext(): TraceContext {
  return { traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`, tracestate: null };
}

/** The trace a create request brings (headers as Node gives them), or a fresh one. */
export function incomingTraceContext(headers: Record<string, string | string[] | undefined>): TraceContext {
  // Node joins a repeated header into one value; a repeated traceparent is thereby invalid, as it should be.
  const traceparent = parseTraceparent(typeof headers.traceparent === 'string' ? headers.traceparent : undefined);
  if (traceparent === undefined) return freshTraceContext();
  const { tracestate } = headers;
  return { traceparent, tracestate: parseTracestate(Array.isArray(tracestate) ? tracestate.join(',') : tracestate) };
}

const tracer = trace.getTracer('switchyard');

export interface AttemptSpan {
  /** What to send to the target: the span's own context, or the stored one when nothing records. */
  outgoing: TraceContext;
  end(result: { outcome: 'ok' | 'retry' | 'fail'; httpStatus?: number; reason?: string }): void;
}

/** Starts the span of one attempt as a child of the job's stored trace context. */
export function startAttemptSpan(stored: TraceContext, attributes: { jobId: string; appId: string; attempt: number; type: string }): AttemptSpan {
  const [, traceId, spanId, flags] = stored.traceparent.split('-');
  const parent = trace.setSpanContext(context.active(), { traceId: traceId!, spanId: spanId!, traceFlags: parseInt(flags!, 16), isRemote: true });
  const span: Span = tracer.startSpan(`switchyard ${attributes.type}`, {
    kind: SpanKind.CLIENT,
    attributes: { 'switchyard.job.id': attributes.jobId, 'switchyard.app.id': attributes.appId, 'switchyard.job.attempt': attributes.attempt, 'switchyard.job.type': attributes.type },
  }, parent);
  const own = span.spanContext();
  const outgoing = own.spanId === spanId
    ? stored
    : { traceparent: `00-${own.traceId}-${own.spanId}-${own.traceFlags.toString(16).padStart(2, '0')}`, tracestate: stored.tracestate };
  return {
    outgoing,
    end(result) {
      if (span.isRecording()) {
        span.setAttribute('switchyard.outcome', result.outcome);
        if (result.httpStatus !== undefined) span.setAttribute('http.response.status_code', result.httpStatus);
        if (result.outcome !== 'ok') span.setStatus({ code: SpanStatusCode.ERROR, message: result.reason });
      }
      span.end();
    },
  };
}
