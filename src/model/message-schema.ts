// The unified message schema: one definition that validates requests, yields the TypeScript types
// and (through z.toJSONSchema) the OpenAPI document. Every lane carries a message of this shape.
import { z } from 'zod';

const MAX_DELAY_SECONDS = 365 * 24 * 3600;
const MAX_TIMEOUT_MS = 900_000;

const headerMap = z.record(z.string().min(1).max(256), z.string().max(8192));
const multiValueMap = z.record(z.string().min(1).max(256), z.array(z.string().max(8192)));

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048);

/** An API Gateway (v1) proxy event: the request a target receives, whatever executes it. */
export const LambdaProxyMessage = z.looseObject({
  httpMethod: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']),
  path: z.string().regex(/^\//, 'must start with /').max(2048),
  queryStringParameters: z.record(z.string(), z.string()).nullish(),
  multiValueQueryStringParameters: z.record(z.string(), z.array(z.string())).nullish(),
  headers: headerMap.nullish(),
  multiValueHeaders: multiValueMap.nullish(),
  body: z.string().nullish(),
  isBase64Encoded: z.boolean().optional(),
});

const timeoutMs = z.int().min(100).max(MAX_TIMEOUT_MS);

export const RestApiExecution = z.strictObject({
  type: z.literal('rest-api'),
  baseUrl: httpUrl,
  timeoutMs: timeoutMs.optional(),
  headers: headerMap.optional(),
});

export const LambdaUrlExecution = z.strictObject({
  type: z.literal('lambda-url'),
  functionUrl: httpUrl,
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1').optional(),
  timeoutMs: timeoutMs.optional(),
});

export const LambdaInvokeExecution = z.strictObject({
  type: z.literal('lambda-invoke'),
  functionName: z.string().min(1).max(170),
  qualifier: z.string().min(1).max(128).optional(),
  invocationType: z.enum(['Event', 'RequestResponse']).optional(),
  timeoutMs: timeoutMs.optional(),
});

/** What a scheduled job runs when its time comes. */
export const TargetExecution = z.discriminatedUnion('type', [RestApiExecution, LambdaUrlExecution, LambdaInvokeExecution]);

export const ScheduleExecution = z
  .strictObject({
    type: z.literal('schedule'),
    at: z.iso.datetime({ offset: true }).optional(),
    delaySeconds: z.int().min(0).max(MAX_DELAY_SECONDS).optional(),
    targetExecution: TargetExecution,
  })
  .refine((value) => (value.at === undefined) !== (value.delaySeconds === undefined), {
    message: 'give exactly one of at or delaySeconds',
    path: ['at'],
  });

export const Execution = z.discriminatedUnion('type', [RestApiExecution, LambdaUrlExecution, LambdaInvokeExecution, ScheduleExecution]);

/** SQS's message size limit: a message must fit the SQS lane whichever lane it takes. */
export const MAX_LAMBDA_PROXY_MESSAGE_BYTES = 256 * 1024;

export const Message = z.strictObject({
  lambdaProxyMessage: LambdaProxyMessage.refine(
    (message) => Buffer.byteLength(JSON.stringify(message)) <= MAX_LAMBDA_PROXY_MESSAGE_BYTES,
    `must be at most ${MAX_LAMBDA_PROXY_MESSAGE_BYTES} bytes as JSON (256 KiB, the SQS message limit)`,
  ),
  execution: Execution,
  metadata: z.record(z.string(), z.unknown()).optional(),
});

export const RetryOverride = z.strictObject({
  maxAttempts: z.int().min(1).max(100).optional(),
  baseDelaySeconds: z.int().min(1).max(86_400).optional(),
  maxDelaySeconds: z.int().min(1).max(604_800).optional(),
});

export const Mode = z.enum(['db', 'sqs', 'both']);

const name = (max: number) => z.string().min(1).max(max).regex(/^[\w.:@\/-]+$/, 'may hold only letters, digits and . _ : @ / -');

export const CreateJobRequest = z
  .strictObject({
    appId: name(128),
    mode: Mode,
    message: Message,
    idempotencyKey: z.string().min(1).max(128).optional(),
    messageGroupId: name(128).optional(),
    retry: RetryOverride.optional(),
    runAt: z.iso.datetime({ offset: true }).optional(),
    delaySeconds: z.int().min(0).max(MAX_DELAY_SECONDS).optional(),
  })
  .refine((value) => value.runAt === undefined || value.delaySeconds === undefined, {
    message: 'give runAt or delaySeconds, not both',
    path: ['delaySeconds'],
  });

export type LambdaProxyMessage = z.infer<typeof LambdaProxyMessage>;
export type RestApiExecution = z.infer<typeof RestApiExecution>;
export type LambdaUrlExecution = z.infer<typeof LambdaUrlExecution>;
export type LambdaInvokeExecution = z.infer<typeof LambdaInvokeExecution>;
export type ScheduleExecution = z.infer<typeof ScheduleExecution>;
export type TargetExecution = z.infer<typeof TargetExecution>;
export type Execution = z.infer<typeof Execution>;
export type ExecutionType = Execution['type'];
export type Message = z.infer<typeof Message>;
export type Mode = z.infer<typeof Mode>;
export type RetryOverride = z.infer<typeof RetryOverride>;
export type CreateJobRequest = z.infer<typeof CreateJobRequest>;
