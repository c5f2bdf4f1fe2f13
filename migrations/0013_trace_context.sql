-- Up Migration

-- W3C trace context (src/ops/trace.ts): the traceparent and tracestate a job was created with (or a
-- fresh traceparent when the request brought none or an invalid one). Every attempt of the job is
-- sent to its target in that trace, so the call shows up in the caller's trace. Columns of their own
-- rather than keys in `metadata`, which is the caller's: a trace id is then found with plain SQL
-- (`WHERE traceparent LIKE '00-<trace id>-%'`) and never collides with what an app stores.
ALTER TABLE jobs ADD COLUMN traceparent text, ADD COLUMN tracestate text;

-- Down Migration

ALTER TABLE jobs DROP COLUMN traceparent, DROP COLUMN tracestate;
