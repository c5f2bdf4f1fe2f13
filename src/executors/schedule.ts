// schedule: when a scheduled job's time comes, it runs its targetExecution through the executor of
// that type. Whoever delivers it at that time (pg-boss startAfter in the embedded default, or the
// EventBridge Scheduler callback) hands it here; arming the timer is the job scheduler's business
// (src/scheduling/job-scheduler.ts), not an executor's.
import type { ScheduleExecution } from '../model/message-schema.ts';
import type { ExecutionRequest, Executor, Outcome } from './executor.ts';

export function createScheduleExecutor(targets: { execute(request: ExecutionRequest): Promise<Outcome> }): Executor {
  return {
    type: 'schedule',
    execute(request) {
      return targets.execute({ ...request, execution: (request.execution as ScheduleExecution).targetExecution });
    },
  };
}
