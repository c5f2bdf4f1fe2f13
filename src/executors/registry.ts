// The one executor registry: routes a message to the executor of its execution type. A type with no
// executor here is refused at create time, so no job is accepted that nothing could run.
import type { Execution, ExecutionType } from '../model/message-schema.ts';
import type { Executor, ExecutionRequest, Outcome } from './executor.ts';
import { freshTraceContext, startAttemptSpan } from '../ops/trace.ts';
import { redactOutcome, secretValuesOf } from './redact.ts';

export class ExecutorRegistry {
  readonly #executors = new Map<ExecutionType, Executor>();

  constructor(executors: Executor[]) {
    for (const executor of executors) this.#executors.set(executor.type, executor);
  }

  supports(type: ExecutionType): boolean {
    return this.#executors.has(type);
  }

  /** Why the execution could never run here, beyond its type (see Executor.refusal). */
  refusal(execution: Execution): { field: string; message: string } | undefined {
    return this.#executors.get(execution.type)?.refusal?.(execution);
  }

  async execute(request: ExecutionRequest): Promise<Outcome> {
    const executor = this.#executors.get(request.execution.type);
    if (!executor) return { kind: 'fail', reason: `no executor for execution type ${request.execution.type}` };
    // A job stored before trace context was kept (migration 0013) gets a fresh trace per attempt.
    const span = startAttemptSpan(request.trace ?? freshTraceContext(), { jobId: request.jobId, appId: request.appId, attempt: request.attempt, type: request.execution.type });
    let outcome: Outcome;
    try {
      outcome = await executor.execute({ ...request, trace: span.outgoing });
    } catch (error) {
      // An executor bug must not take the lane down with it; the attempt is counted and retried.
      outcome = { kind: 'retry', reason: `executor error: ${(error as Error).message}` };
    }
    // Every outcome is recorded and may be logged: no executor can leak what the request carried.
    const redacted = redactOutcome(outcome, secretValuesOf(request));
    span.end({ outcome: redacted.kind, httpStatus: redacted.response?.status, reason: redacted.kind === 'ok' ? undefined : redacted.reason });
    return redacted;
  }
}
