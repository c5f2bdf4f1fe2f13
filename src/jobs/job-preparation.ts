// Turns a validated create request into what a DB-lane job is stored as: its jobs row and its lane
// entry. Single create, batch create and the legacy contract all prepare jobs here, so a job means
// the same whichever route made it.
import type { Config } from '../config/config.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import type { LaneSend } from '../lanes/db-lane.ts';
import { ValidationError } from './errors.ts';
import { newJobId } from './job-id.ts';
import type { NewJob } from './job-repository.ts';
import type { CreateJobRequest, Execution } from './message-schema.ts';
import { resolveRetryPolicy, type RetryPolicy } from './retry-policy.ts';

// Time past the executor's own timeout for recording the outcome before pg-boss expires the claim.
export const EXPIRY_MARGIN_SECONDS = 10;

export interface PreparedJob {
  row: NewJob;
  lane: LaneSend;
}

/** Refuses an execution type this deployment has no executor (or no AWS config) for. */
export function assertExecutable(executors: ExecutorRegistry, execution: Execution, field = 'message.execution.type'): void {
  if (!executors.supports(execution.type)) {
    throw ValidationError.field(field, `execution type "${execution.type}" is not available on this deployment`);
  }
}

export function runAtOf(request: Pick<CreateJobRequest, 'runAt' | 'delaySeconds'>, now = Date.now()): Date | null {
  if (request.runAt !== undefined) return new Date(request.runAt);
  if (request.delaySeconds !== undefined) return new Date(now + request.delaySeconds * 1000);
  return null;
}

/** The lane's expiry and retry settings for a job: pg-boss keeps one spare retry (see DbLane). */
export function laneSettings(config: Config, execution: Execution, policy: RetryPolicy): Pick<LaneSend, 'expireInSeconds' | 'retry'> {
  const timeoutMs = 'timeoutMs' in execution && execution.timeoutMs !== undefined ? execution.timeoutMs : config.defaultTimeoutMs;
  return {
    expireInSeconds: Math.ceil(timeoutMs / 1000) + EXPIRY_MARGIN_SECONDS,
    retry: { retryLimit: policy.maxAttempts, retryDelay: policy.baseDelaySeconds, retryDelayMax: policy.maxDelaySeconds },
  };
}

export function prepareDbJob(config: Config, request: CreateJobRequest, legacy: { type: string; payload: unknown } | null = null): PreparedJob {
  const execution = request.message.execution;
  const policy = resolveRetryPolicy(config.retry, request.retry);
  const runAt = runAtOf(request);
  const id = newJobId();
  return {
    row: {
      id,
      appId: request.appId,
      mode: request.mode,
      executionType: execution.type,
      lambdaProxyMessage: request.message.lambdaProxyMessage,
      executionConfig: execution,
      metadata: request.message.metadata ?? {},
      messageGroupId: request.messageGroupId ?? null,
      idempotencyKey: request.idempotencyKey ?? null,
      status: 'pending',
      maxAttempts: policy.maxAttempts,
      retryPolicy: { baseDelaySeconds: policy.baseDelaySeconds, maxDelaySeconds: policy.maxDelaySeconds },
      runAt,
      type: legacy?.type ?? null,
      payload: legacy?.payload ?? null,
    },
    lane: { id, groupId: request.messageGroupId, startAfter: runAt ?? undefined, ...laneSettings(config, execution, policy) },
  };
}
