// Creating jobs other than one at a time through JobService.create: many in one transaction
// (POST /v1/jobs/batch), and the legacy callback-http contract, which becomes an ordinary DB-lane
// rest-api job that remembers its legacy type and the request it came from.
import { z } from 'zod';
import type { Config } from '../config/config.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import type { DbLane } from '../lanes/db-lane.ts';
import * as admin from './job-admin-repository.ts';
import { ValidationError } from '../model/errors.ts';
import type { CreatedJob } from '../jobs/job-service.ts';
import { assertExecutable, prepareDbJob, type PreparedJob } from '../jobs/job-preparation.ts';
import { AppId, CreateJobRequest, HeaderMap, JsonValue, LambdaProxyMessage, MAX_ATTEMPTS, TargetUrl } from '../model/message-schema.ts';
import type { Metrics } from '../ops/metrics.ts';
import type { TraceContext } from '../ops/trace.ts';
import { assertTargetsAllowed } from '../jobs/target-check.ts';
import { parseOrThrow } from '../jobs/validation.ts';

const MAX_BATCH_SIZE = 1000;

export const BatchCreateRequest = z.strictObject({
  jobs: z.array(CreateJobRequest).min(1).max(MAX_BATCH_SIZE),
});

export const CallbackHttpRequest = z.strictObject({
  appId: AppId,
  url: TargetUrl,
  method: LambdaProxyMessage.shape.httpMethod.optional(),
  headers: HeaderMap.optional(),
  /** A string is sent as it is; anything else is sent as JSON. */
  body: JsonValue.optional(),
  maxAttempts: z.int().min(1).max(MAX_ATTEMPTS).optional(),
  runAt: z.iso.datetime({ offset: true }).optional(),
});
export type CallbackHttpRequest = z.infer<typeof CallbackHttpRequest>;

const LEGACY_CALLBACK_TYPE = 'callback-http';

export interface JobIntakeDeps {
  config: Config;
  pool: Pool;
  dbLane: DbLane;
  executors: ExecutorRegistry;
  /** Counts the jobs each batch and legacy create made. */
  metrics?: Metrics;
}

export class JobIntake {
  readonly #config: Config;
  readonly #pool: Pool;
  readonly #dbLane: DbLane;
  readonly #executors: ExecutorRegistry;
  readonly #metrics: Metrics | undefined;

  constructor(deps: JobIntakeDeps) {
    this.#metrics = deps.metrics;
    this.#config = deps.config;
    this.#pool = deps.pool;
    this.#dbLane = deps.dbLane;
    this.#executors = deps.executors;
  }

  /**
   * Validates every item first; one invalid item refuses the whole batch (400 naming each bad field
   * as jobs.<index>.<field>) and nothing is stored. Then all jobs are written in one transaction
   * with one statement for the rows and one bulk insert per lane queue.
   */
  async createBatch(input: unknown, trace?: TraceContext): Promise<CreatedJob[]> {
    const { jobs } = parseOrThrow(BatchCreateRequest, input);
    const problems: ValidationError['problems'] = [];
    const prepared: PreparedJob[] = [];
    jobs.forEach((request, index) => {
      try {
        prepared.push(this.#prepare(request, null, trace));
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        problems.push(...error.problems.map((problem) => ({ ...problem, field: `jobs.${index}.${problem.field}` })));
      }
    });
    if (problems.length) throw new ValidationError(problems);
    await assertTargetsAllowed(jobs.map((job, index) => ({ execution: job.message.execution, prefix: `jobs.${index}.` })), this.#policy());
    return this.#store(prepared);
  }

  /** The legacy contract: a rest-api job in the DB lane, with type 'callback-http' and the original body as payload. */
  async createCallbackHttp(input: unknown, trace?: TraceContext): Promise<CreatedJob> {
    const legacy = parseOrThrow(CallbackHttpRequest, input);
    const request = inLegacyTerms(() => parseOrThrow(CreateJobRequest, toCreateRequest(legacy)));
    await assertTargetsAllowed([{ execution: request.message.execution }], this.#policy()).catch((error) => {
      // The legacy body names the target as `url`.
      throw error instanceof ValidationError ? ValidationError.field('url', error.problems[0]!.message) : error;
    });
    const [created] = await this.#store([this.#prepare(request, input, trace)]);
    return created!;
  }

  #policy() {
    return { allowPrivate: this.#config.allowPrivateTargets };
  }

  #prepare(request: CreateJobRequest, legacyPayload: unknown, trace: TraceContext | undefined): PreparedJob {
    if (request.mode !== 'db') {
      // One transaction stores a batch; the SQS lane has no transaction to join, so it takes jobs one by one.
      throw ValidationError.field('mode', `mode "${request.mode}" is not available here: batch and legacy jobs run in the DB lane; use "db"`);
    }
    assertExecutable(this.#executors, request.message.execution);
    if (request.message.execution.type === 'schedule') {
      // A schedule job is armed through the job scheduler (EventBridge or embedded), one at a time.
      throw ValidationError.field('message.execution.type', 'schedule jobs are created one at a time with POST /v1/jobs/create');
    }
    return prepareDbJob(this.#config, request, { legacy: legacyPayload === null ? undefined : { type: LEGACY_CALLBACK_TYPE, payload: legacyPayload }, trace });
  }

  /**
   * Writes the jobs and their lane entries in one transaction. An idempotency key already used by
   * the app, or used by an earlier item of the same batch, yields that first job (created: false),
   * exactly as single create does.
   */
  async #store(jobs: PreparedJob[]): Promise<CreatedJob[]> {
    const keyOf = (appId: string, idempotencyKey: string) => `${appId}\n${idempotencyKey}`;
    const firstWithKey = new Map<string, number>();
    const unique: PreparedJob[] = [];
    const slots = jobs.map((job) => {
      const key = job.row.idempotencyKey === null ? undefined : keyOf(job.row.appId, job.row.idempotencyKey);
      const first = key === undefined ? undefined : firstWithKey.get(key);
      if (first !== undefined) return { index: first, repeated: true };
      unique.push(job);
      if (key !== undefined) firstWithKey.set(key, unique.length - 1);
      return { index: unique.length - 1, repeated: false };
    });

    const created = await inTransaction(this.#pool, async (client) => {
      const inserted = await admin.insertJobs(client, unique.map((job) => job.row));
      const earlier = await admin.findJobsByIdempotencyKeys(client, unique
        .filter((job) => !inserted.has(job.row.id))
        .map((job) => ({ appId: job.row.appId, idempotencyKey: job.row.idempotencyKey! })));
      const earlierByKey = new Map(earlier.map((row) => [keyOf(row.app_id, row.idempotency_key!), row]));
      await this.#dbLane.sendMany(client, unique.filter((job) => inserted.has(job.row.id)).map((job) => job.lane));

      const results: CreatedJob[] = unique.map((job) => {
        if (inserted.has(job.row.id)) return { id: job.row.id, status: 'pending', created: true };
        const first = earlierByKey.get(keyOf(job.row.appId, job.row.idempotencyKey!));
        if (!first) throw new Error(`job with idempotency key ${job.row.idempotencyKey} was neither inserted nor found`);
        return { id: first.id, status: first.status, created: false };
      });
      return slots.map(({ index, repeated }) => (repeated ? { ...results[index]!, created: false } : results[index]!));
    });
    // Counted once committed; every job stored here is a new DB-lane job.
    for (const [index, job] of created.entries()) {
      if (job.created) this.#metrics?.jobCreated({ lane: 'db', type: jobs[index]!.row.executionType, appId: jobs[index]!.row.appId });
    }
    return created;
  }
}

// Where each part of the create request a legacy request becomes came from, so that a problem found
// in it names the legacy field (the URL's path and query are parts of `url`).
const LEGACY_FIELDS: [RegExp, string][] = [
  [/^message\.lambdaProxyMessage\.headers\./, 'headers.'],
  [/^message\.lambdaProxyMessage(\.body)?$/, 'body'],
  [/^message\.lambdaProxyMessage\..*$/, 'url'],
  [/^message\.execution\..*$/, 'url'],
  [/^retry\.maxAttempts$/, 'maxAttempts'],
];

function inLegacyTerms<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ValidationError(error.problems.map(({ field, message }) => {
      const rule = LEGACY_FIELDS.find(([pattern]) => pattern.test(field));
      return { field: rule ? field.replace(rule[0], rule[1]) : field, message };
    }));
  }
}

/** The create request a legacy callback-http request stands for. */
function toCreateRequest(legacy: CallbackHttpRequest): unknown {
  const url = new URL(legacy.url);
  const query: Record<string, string[]> = {};
  for (const [key, value] of url.searchParams) (query[key] ??= []).push(value);
  const headers = { ...legacy.headers };
  let body: string | undefined;
  if (typeof legacy.body === 'string') {
    body = legacy.body;
  } else if (legacy.body !== undefined && legacy.body !== null) {
    body = JSON.stringify(legacy.body);
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  }
  return {
    appId: legacy.appId,
    mode: 'db',
    message: {
      lambdaProxyMessage: {
        httpMethod: legacy.method ?? 'POST',
        path: url.pathname,
        multiValueQueryStringParameters: Object.keys(query).length ? query : undefined,
        headers,
        body,
      },
      execution: { type: 'rest-api', baseUrl: url.origin },
    },
    retry: legacy.maxAttempts === undefined ? undefined : { maxAttempts: legacy.maxAttempts },
    runAt: legacy.runAt,
  };
}
