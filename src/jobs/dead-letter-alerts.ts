// Who hears about a dead-lettered job: one small interface, an SES implementation when
// ALERT_EMAIL_TO is set, and a no-op otherwise. Alerts are sent after the outcome is committed and
// never wait on or fail the job: a send that fails is logged and dropped.
import type { SESClient } from '@aws-sdk/client-ses';
import type { Logger } from '../ops/log.ts';

export interface DeadLetteredJob {
  id: string;
  appId: string;
  executionType: string;
  attempts: number;
  lastError: string | null;
}

export interface DeadLetterNotifier {
  notify(job: DeadLetteredJob): Promise<void>;
}

export const silentNotifier: DeadLetterNotifier = { notify: async () => {} };

export interface SesNotifierOptions {
  /** The client, built (and the SDK loaded) on the first alert: see src/aws/clients.ts. */
  ses: () => Promise<SESClient>;
  from: string;
  to: string[];
}

export function createSesNotifier(options: SesNotifierOptions): DeadLetterNotifier {
  return {
    async notify(job) {
      const text = [
        `Job ${job.id} was dead-lettered: it will not be attempted again unless retried by hand.`,
        '',
        `Job id:         ${job.id}`,
        `App:            ${job.appId}`,
        `Execution type: ${job.executionType}`,
        `Attempts:       ${job.attempts}`,
        `Last error:     ${job.lastError ?? '(none)'}`,
      ].join('\n');
      const ses = await options.ses();
      const { SendEmailCommand } = await import('@aws-sdk/client-ses');
      await ses.send(new SendEmailCommand({
        Source: options.from,
        Destination: { ToAddresses: options.to },
        Message: {
          Subject: { Data: `Switchyard: job ${job.id} of ${job.appId} dead-lettered`, Charset: 'UTF-8' },
          Body: { Text: { Data: text, Charset: 'UTF-8' } },
        },
      }));
    },
  };
}

/** Sends without making anyone wait; a failure ends in the log. */
export function alertInBackground(notifier: DeadLetterNotifier, job: DeadLetteredJob, log: Logger): void {
  notifier.notify(job).catch((error) => log.error({ jobId: job.id, appId: job.appId, reason: (error as Error).message }, `dead-letter alert for job ${job.id} not sent: ${(error as Error).message}`));
}
