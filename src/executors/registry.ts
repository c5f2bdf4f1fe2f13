// The one executor registry: routes a message to the executor of its execution type. A type with no
// executor here is refused at create time, so no job is accepted that nothing could run.
import type { ExecutionType } from '../jobs/message-schema.ts';
import type { Executor, ExecutionRequest, Outcome } from './executor.ts';

export class ExecutorRegistry {
  readonly #executors = new Map<ExecutionType, Executor>();

  constructor(executors: Executor[]) {
    for (const executor of executors) this.#executors.set(executor.type, executor);
  }

  supports(type: ExecutionType): boolean {
    return this.#executors.has(type);
  }

  async execute(request: ExecutionRequest): Promise<Outcome> {
    const executor = this.#executors.get(request.execution.type);
    if (!executor) return { kind: 'fail', reason: `no executor for execution type ${request.execution.type}` };
    try {
      return await executor.execute(request);
    } catch (error) {
      // An executor bug must not take the lane down with it; the attempt is counted and retried.
      return { kind: 'retry', reason: `executor error: ${(error as Error).message}` };
    }
  }
}
