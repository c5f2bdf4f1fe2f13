// The scheduled-message Lambda function: EventBridge Scheduler invokes it with a schedule's Input
// ({jobId, targetExecution}) and it runs the job through ScheduledMessages, as the HTTP route does.
// A thrown error makes the Scheduler deliver again; the claim makes that harmless.
import type { ScheduledMessageResult, ScheduledMessages } from '../scheduling/scheduled-messages.ts';
import { functionRuntime } from './runtime.ts';

export function createScheduledMessageHandler(scheduledMessages: () => Promise<ScheduledMessages>) {
  return async (event: unknown): Promise<ScheduledMessageResult> => {
    // EventBridge delivers Input as the event itself; an API-destination style body arrives as text.
    const input = typeof event === 'string' ? JSON.parse(event) : event;
    return (await scheduledMessages()).process(input);
  };
}

export const handler = createScheduledMessageHandler(async () => (await functionRuntime()).parts.scheduledMessages);
