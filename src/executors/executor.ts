// What every executor takes and returns. Executors are stateless: no database, no lane, no HTTP
// framework. The DB lane, the SQS lane and the scheduler callback all hand them the same input.
import type { Execution, ExecutionType, LambdaProxyMessage } from '../model/message-schema.ts';
import type { TraceContext } from '../ops/trace.ts';

/**
 * The signing secrets of each of these apps (current, then next while rotating). Whoever hands a
 * rest-api job to the executors looks them up once per batch and puts them on the request.
 */
export type SigningSecretsLookup = (appIds: string[]) => Promise<Map<string, string[]>>;

/** For a caller with no apps to sign for (tests, tools): requests go out unsigned. */
export const noSigningSecrets: SigningSecretsLookup = async () => new Map();

export interface ExecutionRequest {
  jobId: string;
  appId: string;
  /** 1 for the first attempt. */
  attempt: number;
  idempotencyKey: string | undefined;
  lambdaProxyMessage: LambdaProxyMessage;
  execution: Execution;
  /** The app's signing secrets (current, then next while rotating); requests are signed with each. */
  signingSecrets?: string[];
  /** Aborted when the lane gives up on this attempt (shutdown, expiry): stop and report retry. */
  signal: AbortSignal;
  /**
   * The job's W3C trace context (src/ops/trace.ts). The registry replaces it with the attempt's
   * span before an executor sees it, and executors send it as traceparent / tracestate.
   */
  trace?: TraceContext;
}

/** What the target answered, as stored in jobs.last_response. The body is a bounded excerpt. */
export interface ResponseSummary {
  status: number;
  durationMs: number;
  body: string;
  truncated: boolean;
  /** lambda-invoke with RequestResponse: Lambda's FunctionError (e.g. Unhandled), when the function failed. */
  functionError?: string;
}

export type Outcome =
  | { kind: 'ok'; response: ResponseSummary }
  | { kind: 'retry'; reason: string; response?: ResponseSummary }
  | { kind: 'fail'; reason: string; response?: ResponseSummary };

export interface Executor {
  readonly type: ExecutionType;
  execute(request: ExecutionRequest): Promise<Outcome>;
  /**
   * Why this deployment could never run the execution (a setting it lacks), found at create so that
   * it is a 400 and not a job that fails at every attempt; `field` is relative to the execution.
   */
  refusal?(execution: Execution): { field: string; message: string } | undefined;
}
