// How a schedule job is made to run at its time: the two implementations of the job core's
// JobScheduler (src/jobs/ports.ts), chosen once from config (src/service.ts). The embedded default
// hands the job to the DB lane with pg-boss startAfter; EventBridge Scheduler creates a one-time
// schedule that later calls the scheduled-message callback. Either way the job shows `scheduled` until it runs.
import type { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { JobScheduler } from '../jobs/ports.ts';
import type { DbLane } from '../lanes/db-lane.ts';
import type { TargetExecution } from '../model/message-schema.ts';

/** What a schedule delivers to the scheduled-message callback: the job and what it runs. */
export interface ScheduledMessageInput {
  jobId: string;
  targetExecution: TargetExecution;
}

export function createEmbeddedScheduler(dbLane: DbLane): JobScheduler {
  return {
    kind: 'embedded',
    async arm(client, request) {
      await dbLane.send(client, { ...request.lane, startAfter: request.at });
      return { scheduleArn: null };
    },
    async remove() {},
  };
}

export interface EventBridgeSchedulerOptions {
  /** The client, built (and the SDK loaded) on the first schedule: see src/aws/clients.ts. */
  client: () => Promise<SchedulerClient>;
  groupName: string;
  /** The scheduled-message Lambda function. */
  targetArn: string;
  /** The role EventBridge Scheduler assumes to invoke it. */
  roleArn: string;
}

/** One schedule per job, named after it: creating it again can only conflict, never duplicate. */
function scheduleName(jobId: string): string {
  return `switchyard-${jobId}`;
}

/** EventBridge's one-time expression: at(yyyy-mm-ddThh:mm:ss), read in ScheduleExpressionTimezone. */
function atExpression(at: Date): string {
  return `at(${at.toISOString().slice(0, 19)})`;
}

export function createEventBridgeScheduler(options: EventBridgeSchedulerOptions): JobScheduler {
  return {
    kind: 'eventbridge',
    async arm(_client, request) {
      const input: ScheduledMessageInput = { jobId: request.jobId, targetExecution: request.targetExecution };
      const client = await options.client();
      const { CreateScheduleCommand } = await import('@aws-sdk/client-scheduler');
      const created = await client.send(new CreateScheduleCommand({
        Name: scheduleName(request.jobId),
        GroupName: options.groupName,
        ScheduleExpression: atExpression(request.at),
        ScheduleExpressionTimezone: 'UTC',
        FlexibleTimeWindow: { Mode: 'OFF' },
        ActionAfterCompletion: 'DELETE',
        Target: { Arn: options.targetArn, RoleArn: options.roleArn, Input: JSON.stringify(input) },
      }));
      return { scheduleArn: created.ScheduleArn ?? null };
    },
    async remove(jobId) {
      const client = await options.client();
      const { DeleteScheduleCommand } = await import('@aws-sdk/client-scheduler');
      try {
        await client.send(new DeleteScheduleCommand({ Name: scheduleName(jobId), GroupName: options.groupName }));
      } catch (error) {
        // ActionAfterCompletion DELETE usually removed it once it fired.
        if ((error as Error).name !== 'ResourceNotFoundException') throw error;
      }
    },
  };
}
