// What the job core needs of the parts above it, as small interfaces it owns. The SQS side
// (src/sqs/) and the schedulers (src/scheduling/) implement them and src/service.ts plugs the chosen
// implementations in, so nothing in src/jobs/ imports a floor above its own.
import type { SqlClient } from '../db/sql-client.ts';
import type { LaneSend } from '../lanes/db-lane.ts';
import type { CreateJobRequest, TargetExecution } from '../model/message-schema.ts';
import type { TraceContext } from '../ops/trace.ts';
import type { JobStatus } from './job-repository.ts';
import type { RetryPolicy } from './retry-policy.ts';

/** What create hands the SQS side: a validated mode=sqs or mode=both request. */
export interface SqsIntake {
  create(request: CreateJobRequest, policy: RetryPolicy, trace?: TraceContext): Promise<{ id: string; status: JobStatus; created: boolean }>;
}

export interface ScheduleRequest {
  jobId: string;
  at: Date;
  targetExecution: TargetExecution;
  /** How the DB lane would carry the job, for a scheduler that uses it. */
  lane: LaneSend;
}

/** How a schedule job is made to run at its time: the embedded DB-lane delay, or EventBridge Scheduler. */
export interface JobScheduler {
  readonly kind: 'embedded' | 'eventbridge';
  /** Arms the job inside the create transaction; the ARN when a remote schedule now exists. */
  arm(client: SqlClient, request: ScheduleRequest): Promise<{ scheduleArn: string | null }>;
  /** Removes the job's schedule if it still exists; a schedule already gone is not an error. */
  remove(jobId: string): Promise<void>;
}
