// The OpenAPI 3.1 document, generated from the same zod schemas that validate requests and shape
// responses, so the description cannot drift from what the service accepts and answers.
import { z } from 'zod';
import { BulkActionRequest, BulkActionView, DryRunView } from '../admin/bulk-actions.ts';
import { ListJobsQuery } from '../admin/job-admin.ts';
import { BatchCreateRequest, CallbackHttpRequest } from '../admin/job-intake.ts';
import { AttemptList, JobPage, JobStatusSchema, JobView } from '../admin/job-view.ts';
import { CreateJobRequest } from '../model/message-schema.ts';
import { ScheduledMessage } from '../scheduling/scheduled-messages.ts';
import { LegacyRunRequest } from './routes/legacy.ts';
import { PollRequest } from './routes/sqs.ts';

const CreatedJob = z.object({ id: z.uuid(), status: JobStatusSchema });
const BatchCreated = z.object({ jobs: z.array(CreatedJob.extend({ created: z.boolean() })) });
const RunCounts = z.object({
  claimed: z.int(), completed: z.int(), retrying: z.int(), failed: z.int(), deadLettered: z.int(), skipped: z.int(), recovered: z.int(),
});
const PollCounts = z.object({
  forwarded: z.int(), received: z.int(), completed: z.int(), handedOver: z.int(), failed: z.int(), deadLettered: z.int(), rejected: z.int(), skipped: z.int(),
});
const ErrorBody = z.object({
  error: z.string(),
  message: z.string(),
  fields: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  id: z.string().optional(),
  status: z.string().optional(),
});
const ScheduledMessageResult = z.object({ jobId: z.uuid(), ran: z.boolean(), status: z.union([JobStatusSchema, z.literal('not_found')]) });
const Health = z.object({ status: z.enum(['ok', 'unavailable']), error: z.string().optional(), message: z.string().optional() });

type Io = 'input' | 'output';
function jsonSchema(schema: z.ZodType, io: Io): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

/**
 * The named schemas, each converted once: where one contains another (a batch holds create
 * requests, a page holds jobs) it refers to it by $ref, so the document and the client's generated
 * types name them instead of repeating them inline. Requests are described as accepted (defaults
 * optional), responses as answered.
 */
function componentSchemas<Name extends string>(io: Io, schemas: Record<Name, z.ZodType>): Record<Name, Record<string, unknown>> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries<z.ZodType>(schemas)) registry.add(schema, { id });
  const emitted = z.toJSONSchema(registry, { target: 'draft-2020-12', io, unrepresentable: 'any', uri: (id) => `#/components/schemas/${id}` });
  // Each comes with its own $schema and a fragment $id, which 2020-12 forbids; the document's
  // jsonSchemaDialect says the first, and its place in components the second.
  const entries = Object.entries(emitted.schemas as Record<string, Record<string, unknown>>);
  return Object.fromEntries(entries.map(([id, { $schema: _dialect, $id: _id, ...rest }]) => [id, rest])) as Record<Name, Record<string, unknown>>;
}

const components = {
  ...componentSchemas('input', {
    CreateJobRequest,
    BatchCreateRequest,
    CallbackHttpRequest,
    RunRequest: LegacyRunRequest,
    PollRequest,
    ScheduledMessage,
    BulkActionRequest,
  }),
  ...componentSchemas('output', {
    JobStatus: JobStatusSchema,
    CreatedJob,
    BatchCreated,
    Job: JobView,
    JobPage,
    AttemptList,
    RunCounts,
    PollCounts,
    Error: ErrorBody,
    Health,
    ScheduledMessageResult,
    BulkAction: BulkActionView,
    BulkActionList: z.object({ bulkActions: z.array(BulkActionView) }),
    BulkDryRun: DryRunView,
  }),
};

const ref = (name: keyof typeof components) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: keyof typeof components, description: string) => ({ description, content: { 'application/json': { schema: ref(name) } } });
const body = (name: keyof typeof components) => ({ required: true, content: { 'application/json': { schema: ref(name) } } });

const badRequest = json('Error', 'Invalid input; `fields` names each problem. Nothing was stored or sent.');
const notFound = json('Error', 'No job with this id.');
const conflict = json('Error', 'The job is in a state that does not allow this; `status` is its current state.');
const unauthorized = json('Error', 'A valid internal bearer token is required.');
const idParameter = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };

const listParameters = Object.entries(ListJobsQuery.shape).map(([name, schema]) => ({
  name,
  in: 'query',
  required: false,
  schema: name === 'limit' ? { type: 'integer', minimum: 1, maximum: 500, default: 50 } : jsonSchema(schema as z.ZodType, 'input'),
}));

/** The cron entry point and its legacy path take and answer the same. */
const runDue = (summary: string) => ({
  summary,
  security: [{ internalToken: [] }],
  requestBody: { required: false, content: { 'application/json': { schema: ref('RunRequest') } } },
  responses: { 200: json('RunCounts', 'What the run did.'), 400: badRequest, 401: unauthorized },
});

const action = (summary: string) => ({
  summary,
  parameters: [idParameter],
  responses: { 200: json('Job', 'The job after the action.'), 404: notFound, 409: conflict },
});

export const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'Switchyard', version: '0.1.0', description: 'A job runner: REST, Lambda and scheduled jobs with retries, dead-lettering, idempotency and per-group ordering.' },
  jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
  components: {
    schemas: components,
    securitySchemes: {
      internalToken: { type: 'http', scheme: 'bearer', description: 'INTERNAL_JWT_TOKEN, or an HS256 JWT signed with it and carrying exp' },
      apiKey: { type: 'http', scheme: 'bearer', description: 'An app API key (acts on its own app\'s jobs) or an admin key (acts on all)' },
    },
  },
  paths: {
    '/healthz': {
      get: { summary: 'Liveness and database reachability', responses: { 200: json('Health', 'Up.'), 503: json('Health', 'The database does not answer.') } },
    },
    '/openapi.json': {
      get: { summary: 'This document', responses: { 200: { description: 'The OpenAPI 3.1 document.', content: { 'application/json': { schema: { type: 'object', additionalProperties: true } } } } } },
    },
    '/v1/jobs/create': {
      post: {
        summary: 'Create a job',
        requestBody: body('CreateJobRequest'),
        responses: { 202: json('CreatedJob', 'Stored and queued.'), 200: json('CreatedJob', 'The idempotency key named an earlier job, which is returned.'), 400: badRequest },
      },
    },
    '/v1/jobs/batch': {
      post: {
        summary: 'Create up to 1,000 jobs in one transaction',
        description: 'One invalid item refuses the whole batch (400, fields named jobs.<index>.<field>); nothing is stored.',
        requestBody: body('BatchCreateRequest'),
        responses: { 202: json('BatchCreated', 'Stored; one entry per item, in order.'), 200: json('BatchCreated', 'Every item named an earlier job.'), 400: badRequest },
      },
    },
    '/v1/jobs/callback-http': {
      post: {
        summary: 'Legacy: create an HTTP callback job',
        requestBody: body('CallbackHttpRequest'),
        responses: { 202: json('CreatedJob', 'Stored and queued as a rest-api job of type callback-http.'), 400: badRequest },
      },
    },
    '/v1/jobs': {
      get: {
        summary: 'List jobs, newest first, with keyset pagination',
        parameters: listParameters,
        responses: { 200: json('JobPage', 'One page; pass nextCursor as cursor for the next.'), 400: badRequest },
      },
    },
    '/v1/jobs/{id}': {
      get: { summary: 'Read one job (secret header values redacted)', parameters: [idParameter], responses: { 200: json('Job', 'The job.'), 404: notFound } },
    },
    '/v1/jobs/{id}/attempts': {
      get: { summary: 'Every attempt of one job, oldest first: lane, start, end, outcome, status code, duration, error', parameters: [idParameter], responses: { 200: json('AttemptList', 'The history.'), 404: notFound } },
    },
    '/v1/jobs/{id}/retry': { post: action('Run a failed or dead-lettered job again, with a fresh set of attempts') },
    '/v1/jobs/{id}/deadletter': { post: action('Give up on a pending, retrying, scheduled or failed job') },
    '/v1/jobs/{id}/cancel': { post: action('Cancel a pending, retrying or scheduled job') },
    '/v1/bulk-actions': {
      post: {
        summary: 'Retry, cancel or dead-letter every job matching a filter, in chunks; follow the run with GET',
        description: 'Each job goes through the single action and is changed at most once; an interrupted run is resumed by any service process. With dryRun, only counts.',
        requestBody: body('BulkActionRequest'),
        responses: { 202: json('BulkAction', 'Started; `total` jobs matched.'), 200: json('BulkDryRun', 'A dry run: how many jobs it would reach.'), 400: badRequest },
      },
      get: { summary: 'The latest bulk actions, newest first', responses: { 200: json('BulkActionList', 'Up to 20 runs.') } },
    },
    '/v1/bulk-actions/{id}': {
      get: { summary: 'A bulk action and its progress', parameters: [idParameter], responses: { 200: json('BulkAction', 'The run.'), 404: json('Error', 'No bulk action with this id.') } },
    },
    '/v1/bulk-actions/{id}/cancel': {
      post: { summary: 'Stop a bulk action; what it changed stays changed', parameters: [idParameter], responses: { 200: json('BulkAction', 'The run as it now is.'), 404: json('Error', 'No bulk action with this id.') } },
    },
    '/internal/v1/run-db-jobs': { post: runDue('Run due DB-lane jobs now (cron entry point)') },
    '/internal/v1/process-scheduled-message': {
      post: {
        summary: 'Run a scheduled job that EventBridge Scheduler delivers (the scheduled-message callback); a repeated delivery runs nothing',
        security: [{ internalToken: [] }],
        requestBody: body('ScheduledMessage'),
        responses: { 200: json('ScheduledMessageResult', 'What this delivery did; `ran` is false when the job was already taken or is gone.'), 400: badRequest, 401: unauthorized },
      },
    },
    '/internal/v1/jobs/run': { post: runDue('Legacy: the same as /internal/v1/run-db-jobs') },
    '/internal/v1/poll-sqs': {
      post: {
        summary: 'Forward due outbox entries to SQS, then receive up to `limit` messages and run them (cron entry point of the SQS lane)',
        security: [{ internalToken: [] }],
        requestBody: { required: false, content: { 'application/json': { schema: ref('PollRequest') } } },
        responses: {
          200: json('PollCounts', 'What the poll did.'),
          400: badRequest,
          401: unauthorized,
          409: json('Error', 'There is no SQS queue to poll (`sqs_not_configured`): AWS_SQS_QUEUE_URL is not set.'),
        },
      },
    },
  },
};

// Every /v1 route needs an API key; an app key that names another app is refused; creation is
// rate-limited per app. Every route that reads a body reads it as JSON, within a size limit.
const CREATE_ROUTES = new Set(['/v1/jobs/create', '/v1/jobs/batch', '/v1/jobs/callback-http']);
type Operation = { security?: unknown; requestBody?: unknown; responses: Record<number, unknown> };
for (const [path, operations] of Object.entries(openApiDocument.paths) as [string, Record<string, Operation>][]) {
  for (const operation of Object.values(operations)) {
    if (operation.requestBody) {
      operation.responses[413] = json('Error', 'The body is larger than this route accepts (`payload_too_large`).');
      operation.responses[415] = json('Error', 'The body was not sent as application/json (`unsupported_media_type`).');
    }
    if (!path.startsWith('/v1/')) continue;
    operation.security = [{ apiKey: [] }];
    operation.responses[401] = json('Error', 'No API key, or one that is unknown or revoked.');
    operation.responses[403] = json('Error', 'The API key belongs to another app than the one named.');
    if (CREATE_ROUTES.has(path)) operation.responses[429] = json('Error', 'The app is over its creation rate; Retry-After says when to try again.');
  }
}
