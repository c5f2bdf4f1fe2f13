// lambda-invoke: the proxy message as an API Gateway proxy event, handed to Lambda's Invoke API.
// `Event` (the default) queues the event and counts 202 as success; `RequestResponse` waits for the
// function and stores what it answered, with any FunctionError, in last_response.
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { LambdaInvokeExecution, LambdaProxyMessage } from '../model/message-schema.ts';
import { attemptDeadline } from './attempt-deadline.ts';
import type { ExecutionRequest, Executor, Outcome, ResponseSummary } from './executor.ts';
import { isRetryableStatus, RESPONSE_EXCERPT_BYTES } from './http-outcome.ts';
import { jobHeaders } from './rest-api.ts';

export interface LambdaInvokeOptions {
  /** The client, built (and the SDK loaded) on the first lambda-invoke job: see src/aws/clients.ts. */
  lambda: () => Promise<LambdaClient>;
  /** Bounds a RequestResponse wait unless the job gives `timeoutMs`, as for HTTP targets. */
  defaultTimeoutMs: number;
}

// 4xx errors that a later attempt could get past: throttling, and a function still being created
// or updated. Every other 4xx (no such function, a bad payload, no permission) fails at once.
const RETRYABLE_ERRORS = new Set(['TooManyRequestsException', 'ResourceConflictException', 'ResourceNotReadyException', 'ThrottlingException']);

/** The event a function behind API Gateway (REST, payload 1.0) would receive for this request. */
export function toProxyEvent(message: LambdaProxyMessage, request: ExecutionRequest): Record<string, unknown> {
  const added = jobHeaders(request);
  const headers = { ...message.headers, ...added };
  const multiValueHeaders: Record<string, string[]> = { ...message.multiValueHeaders };
  for (const [name, value] of Object.entries(message.headers ?? {})) multiValueHeaders[name] ??= [value];
  for (const [name, value] of Object.entries(added)) multiValueHeaders[name] = [value];
  const multiValueQuery: Record<string, string[]> = { ...message.multiValueQueryStringParameters };
  for (const [name, value] of Object.entries(message.queryStringParameters ?? {})) multiValueQuery[name] ??= [value];
  const hasQuery = Object.keys(multiValueQuery).length > 0;
  return {
    ...message,
    resource: message.path,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? Object.fromEntries(Object.entries(multiValueQuery).map(([name, values]) => [name, values.at(-1)])) : null,
    multiValueQueryStringParameters: hasQuery ? multiValueQuery : null,
    pathParameters: null,
    stageVariables: null,
    body: message.body ?? null,
    isBase64Encoded: message.isBase64Encoded ?? false,
    requestContext: {
      requestId: request.jobId,
      httpMethod: message.httpMethod,
      path: message.path,
      resourcePath: message.path,
      stage: '$default',
      requestTimeEpoch: Date.now(),
      identity: { sourceIp: '127.0.0.1', userAgent: 'switchyard' },
    },
  };
}

function excerpt(payload: Uint8Array | undefined): { body: string; truncated: boolean } {
  const bytes = Buffer.from(payload ?? new Uint8Array());
  return { body: bytes.subarray(0, RESPONSE_EXCERPT_BYTES).toString('utf8'), truncated: bytes.byteLength > RESPONSE_EXCERPT_BYTES };
}

/** A function that answers like an API Gateway target ({statusCode}) is judged by that status. */
function proxyStatus(body: string): number | undefined {
  try {
    const parsed = JSON.parse(body) as { statusCode?: unknown };
    return typeof parsed?.statusCode === 'number' ? parsed.statusCode : undefined;
  } catch {
    return undefined;
  }
}

function classify(response: ResponseSummary & { functionError?: string }, invocationType: string): Outcome {
  if (response.functionError !== undefined) {
    const reason = `function error: ${response.functionError}`;
    return response.functionError === 'Unhandled' ? { kind: 'retry', reason, response } : { kind: 'fail', reason, response };
  }
  if (invocationType === 'Event') return response.status === 202 ? { kind: 'ok', response } : { kind: 'retry', reason: `Invoke answered ${response.status}`, response };
  const status = proxyStatus(response.body) ?? response.status;
  if (status >= 200 && status < 400) return { kind: 'ok', response };
  const reason = `function answered statusCode ${status}`;
  return isRetryableStatus(status) ? { kind: 'retry', reason, response } : { kind: 'fail', reason, response };
}

export function createLambdaInvokeExecutor(options: LambdaInvokeOptions): Executor {
  return {
    type: 'lambda-invoke',
    async execute(request: ExecutionRequest): Promise<Outcome> {
      const execution = request.execution as LambdaInvokeExecution;
      const invocationType = execution.invocationType ?? 'Event';
      const timeoutMs = execution.timeoutMs ?? options.defaultTimeoutMs;
      const deadline = attemptDeadline(timeoutMs, request.signal);
      const started = performance.now();
      try {
        const lambda = await options.lambda();
        // Already loaded by the client above: this import only hands over the command class.
        const { InvokeCommand } = await import('@aws-sdk/client-lambda');
        const result = await lambda.send(new InvokeCommand({
          FunctionName: execution.functionName,
          Qualifier: execution.qualifier,
          InvocationType: invocationType,
          Payload: Buffer.from(JSON.stringify(toProxyEvent(request.lambdaProxyMessage, request))),
        }), { abortSignal: deadline.signal });
        const response = {
          status: result.StatusCode ?? 0,
          durationMs: Math.round(performance.now() - started),
          ...excerpt(result.Payload),
          ...(result.FunctionError === undefined ? {} : { functionError: result.FunctionError }),
        };
        return classify(response, invocationType);
      } catch (error) {
        const { name, message, $metadata } = error as Error & { $metadata?: { httpStatusCode?: number } };
        const status = $metadata?.httpStatusCode;
        const reason = `${name}: ${message}`;
        if (request.signal.aborted) return { kind: 'retry', reason: 'attempt abandoned (shutdown or expiry)' };
        if (deadline.timedOut()) return { kind: 'retry', reason: `timed out after ${timeoutMs} ms` };
        if (status !== undefined && status >= 400 && status < 500 && !isRetryableStatus(status) && !RETRYABLE_ERRORS.has(name)) {
          return { kind: 'fail', reason };
        }
        return { kind: 'retry', reason };
      } finally {
        deadline.dispose();
      }
    },
  };
}
