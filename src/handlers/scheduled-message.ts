// The scheduled-message Lambda handler: EventBridge Scheduler invokes it with a schedule's Input
// ({jobId, targetExecution}) and it runs the job through ScheduledMessages, as the HTTP route does.
// A thrown error makes the Scheduler deliver again; the claim makes that harmless.
import { loadConfig } from '../config/config.ts';
import type { ScheduledMessageResult, ScheduledMessages } from '../scheduling/scheduled-messages.ts';
import { createLogger } from '../ops/log.ts';
import { startSwitchyard, type Switchyard } from '../service.ts';

export function createScheduledMessageHandler(scheduledMessages: () => Promise<ScheduledMessages>) {
  return async (event: unknown): Promise<ScheduledMessageResult> => {
    // EventBridge delivers Input as the event itself; an API-destination style body arrives as text.
    const input = typeof event === 'string' ? JSON.parse(event) : event;
    return (await scheduledMessages()).process(input);
  };
}

let started: Promise<Switchyard> | undefined;

/** Started once per Lambda container and kept warm between invocations; no workers, no public port. */
export const handler = createScheduledMessageHandler(async () => {
  started ??= (async () => {
    const config = { ...loadConfig(), runWorkers: false, host: '127.0.0.1', port: 0 };
    return startSwitchyard(config, await createLogger({ level: config.logLevel }));
  })();
  return (await started).scheduledMessages;
});
