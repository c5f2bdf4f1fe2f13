// The unified message schema: one definition that validates requests, yields the TypeScript types
// and (through z.toJSONSchema) the OpenAPI document. Every lane carries a message of this shape.
// Every value is checked for where it ends up (wire-rules.ts): what the schema accepts can be stored
// in PostgreSQL and sent as given, so create never answers 2xx for a job that cannot run.
import { z } from 'zod';
import {
  HEADER_NAME, HEADER_NAME_MESSAGE, HEADER_VALUE, HEADER_VALUE_MESSAGE, isBase64, isStorableText, jsonValueProblems,
  pathProblem, STORABLE_TEXT_MESSAGE, targetUrl, targetUrlProblem,
} from './wire-rules.ts';

const MAX_DELAY_SECONDS = 365 * 24 * 3600;
const MAX_TIMEOUT_MS = 900_000;
export const MAX_ATTEMPTS = 100;
/** The longest URL a job may call: the bound this service puts on its own request URLs. */
const MAX_TARGET_URL_LENGTH = 4096;

/** A string PostgreSQL stores as given (no NUL, no unpaired surrogate). */
const text = () => z.string().refine(isStorableText, STORABLE_TEXT_MESSAGE);
/** The same, for other schemas whose strings reach the database (list filters). */
export const StorableText = text();

/** Any JSON value jsonb stores as sent; each bad string, number or nesting is named by its path. */
export const JsonValue = z.unknown().superRefine((value, ctx) => {
  for (const { path, message } of jsonValueProblems(value)) ctx.addIssue({ code: 'custom', path, message });
});

/** Header names are case-insensitive: a map naming one twice would send only one of them, chosen by key order. */
function oneEntryPerName(map: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const seen = new Map<string, string>();
  for (const name of Object.keys(map)) {
    const first = seen.get(name.toLowerCase());
    if (first !== undefined) ctx.addIssue({ code: 'custom', path: [name], message: `names the same header as "${first}" (header names are case-insensitive); give one entry, with every value in multiValueHeaders` });
    else seen.set(name.toLowerCase(), name);
  }
}

const headerName = z.string().min(1).max(256).regex(HEADER_NAME, HEADER_NAME_MESSAGE);
const headerValue = z.string().max(8192).regex(HEADER_VALUE, HEADER_VALUE_MESSAGE);
export const HeaderMap = z.record(headerName, headerValue).superRefine(oneEntryPerName);
/** A header's values are sent as one comma-separated field, where an empty one among others vanishes. */
function noEmptyAmongOthers(map: Record<string, string[]>, ctx: z.RefinementCtx): void {
  for (const [name, values] of Object.entries(map)) {
    if (values.length < 2) continue;
    values.forEach((value, index) => {
      if (value === '') ctx.addIssue({ code: 'custom', path: [name, index], message: 'is empty, and an empty value among others is lost when they are sent as one header; leave it out' });
    });
  }
}
const multiValueMap = z.record(headerName, z.array(headerValue)).superRefine(oneEntryPerName).superRefine(noEmptyAmongOthers);

/**
 * An http(s) URL a job calls: sent as written, so nothing in it may be dropped or rewritten on the way.
 * Checked as given before z.url, which would trim it and strip its tabs and line breaks.
 */
export const TargetUrl = z.string().max(2048)
  .refine(isStorableText, STORABLE_TEXT_MESSAGE)
  .superRefine((value, ctx) => {
    const problem = targetUrlProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .pipe(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }))
  .meta({ format: 'uri' });

const path = z.string().max(2048).refine(isStorableText, STORABLE_TEXT_MESSAGE).superRefine((value, ctx) => {
  const problem = pathProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** An API Gateway (v1) proxy event: the request a target receives, whatever executes it. */
export const LambdaProxyMessage = z.object({
  httpMethod: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']),
  path,
  queryStringParameters: z.record(text(), text()).nullish(),
  multiValueQueryStringParameters: z.record(text(), z.array(text())).nullish(),
  headers: HeaderMap.nullish(),
  multiValueHeaders: multiValueMap.nullish(),
  body: text().nullish(),
  isBase64Encoded: z.boolean().optional(),
})
  // Other fields of an API Gateway event (resource, requestContext, ...) are kept as given.
  .catchall(JsonValue)
  .superRefine((message, ctx) => {
    if (message.isBase64Encoded && typeof message.body === 'string' && !isBase64(message.body)) {
      ctx.addIssue({ code: 'custom', path: ['body'], message: 'is not base64, and isBase64Encoded is true: use the standard alphabet (A-Z a-z 0-9 + /) with optional = padding, or send text with isBase64Encoded false' });
    }
  });

const FUNCTION_NAME = /^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$/;

const timeoutMs = z.int().min(100).max(MAX_TIMEOUT_MS);

export const RestApiExecution = z.strictObject({
  type: z.literal('rest-api'),
  baseUrl: TargetUrl,
  timeoutMs: timeoutMs.optional(),
  headers: HeaderMap.optional(),
});

export const LambdaUrlExecution = z.strictObject({
  type: z.literal('lambda-url'),
  functionUrl: TargetUrl,
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1').optional(),
  timeoutMs: timeoutMs.optional(),
});

export const LambdaInvokeExecution = z.strictObject({
  type: z.literal('lambda-invoke'),
  // Lambda's own patterns: a name or ARN it would refuse is refused here, not at every attempt.
  functionName: z.string().min(1).max(170).regex(FUNCTION_NAME, 'must be a Lambda function name, partial ARN or ARN (letters, digits, - and _, optionally with a :qualifier)'),
  qualifier: z.string().min(1).max(128).regex(/^[a-zA-Z0-9$_-]+$/, 'must be a version or alias name (letters, digits, $, - and _)').optional(),
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

/** The URL an HTTP-shaped execution calls, when it has one. */
function calledUrl(execution: Execution): string | undefined {
  const called = execution.type === 'schedule' ? execution.targetExecution : execution;
  if (called.type === 'rest-api') return called.baseUrl;
  if (called.type === 'lambda-url') return called.functionUrl;
  return undefined;
}

/**
 * More than the URL can come to: percent-encoding makes at most 9 characters of one UTF-16 unit
 * (a 3-byte character as %XX%XX%XX), punycode fewer of a host's, each query entry adds its = and &,
 * and the parser may add a /. Most messages are far below the limit, and are spared building the URL.
 */
function urlLengthBound(base: string, proxy: LambdaProxyMessage): number {
  let units = proxy.path.length;
  for (const [key, value] of Object.entries(proxy.queryStringParameters ?? {})) units += key.length + value.length + 2;
  for (const [key, values] of Object.entries(proxy.multiValueQueryStringParameters ?? {})) for (const value of values) units += key.length + value.length + 2;
  return 9 * (base.length + units) + 1;
}

/** The whole URL must fit MAX_TARGET_URL_LENGTH; the field named is the part that makes it too long. */
function urlFits(message: { lambdaProxyMessage: LambdaProxyMessage; execution: Execution }, ctx: z.RefinementCtx): void {
  const base = calledUrl(message.execution);
  // Zod runs this even when a part already failed its own checks: that part's problem is named already.
  if (ctx.issues.length > 0 || base === undefined) return;
  const proxy = message.lambdaProxyMessage;
  if (urlLengthBound(base, proxy) <= MAX_TARGET_URL_LENGTH) return;
  const length = targetUrl(base, proxy).href.length;
  if (length <= MAX_TARGET_URL_LENGTH) return;
  const pathAlone = targetUrl(base, { path: proxy.path }).href.length;
  const field = pathAlone > MAX_TARGET_URL_LENGTH ? 'path'
    : Object.keys(proxy.multiValueQueryStringParameters ?? {}).length > 0 ? 'multiValueQueryStringParameters' : 'queryStringParameters';
  ctx.addIssue({ code: 'custom', path: ['lambdaProxyMessage', field], message: `makes the URL this job calls ${length} characters long; it may be at most ${MAX_TARGET_URL_LENGTH}` });
}

export const Message = z.strictObject({
  lambdaProxyMessage: LambdaProxyMessage.refine(
    (message) => Buffer.byteLength(JSON.stringify(message)) <= MAX_LAMBDA_PROXY_MESSAGE_BYTES,
    `must be at most ${MAX_LAMBDA_PROXY_MESSAGE_BYTES} bytes as JSON (256 KiB, the SQS message limit)`,
  ),
  execution: Execution,
  metadata: z.record(text(), JsonValue).optional(),
}).superRefine(urlFits);

export const RetryOverride = z.strictObject({
  maxAttempts: z.int().min(1).max(MAX_ATTEMPTS).optional(),
  baseDelaySeconds: z.int().min(1).max(86_400).optional(),
  maxDelaySeconds: z.int().min(1).max(604_800).optional(),
});

export const Mode = z.enum(['db', 'sqs', 'both']);

const name = (max: number) => z.string().min(1).max(max).regex(/^[\w.:@\/-]+$/, 'may hold only letters, digits and . _ : @ / -');
export const AppId = name(128);
export const MessageGroupId = name(128);
/** Sent to the target as the Idempotency-Key header, so it must be a header value. */
export const IdempotencyKey = z.string().min(1).max(128).regex(HEADER_VALUE, `${HEADER_VALUE_MESSAGE} (it is sent as the Idempotency-Key header)`);

export const CreateJobRequest = z
  .strictObject({
    appId: AppId,
    mode: Mode,
    message: Message,
    idempotencyKey: IdempotencyKey.optional(),
    messageGroupId: MessageGroupId.optional(),
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
