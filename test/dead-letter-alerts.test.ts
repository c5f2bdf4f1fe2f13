// SES alerts on dead-letter, with aws-sdk-client-mock on the real SES client asserting the exact
// SendEmail request; a failing send is logged and does not hold the job up.
import { SendEmailCommand, SESClient } from '@aws-sdk/client-ses';
import { mockClient } from 'aws-sdk-client-mock';
import t from 'tap';
import { ConfigError, parseConfig } from '../src/config/config.ts';
import { restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const ses = mockClient(SESClient);
t.teardown(() => ses.restore());
process.env.AWS_ACCESS_KEY_ID = 'AKIDSESTEST';
process.env.AWS_SECRET_ACCESS_KEY = 'ses-secret';

const service = await startTestService(t, {
  env: { ALERT_EMAIL_TO: 'oncall@example.com, lead@example.com', AWS_SES_FROM_EMAIL: 'switchyard@example.com', AWS_SES_REGION: 'eu-west-1' },
});

t.beforeEach(() => ses.reset());

t.test('a dead-lettered job sends one email with its id, app, type, attempts and last error', async (t) => {
  ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
  const target = await startTarget(() => ({ status: 500, body: 'broken' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'billing', retry: { maxAttempts: 2, baseDelaySeconds: 1, maxDelaySeconds: 1 } }));
  const id = created.body.id;
  await service.waitForStatus(id, 'dead_lettered', 20_000);
  await waitFor(() => ses.commandCalls(SendEmailCommand).length > 0, { what: 'the alert' });
  t.same(ses.commandCalls(SendEmailCommand).map((call) => call.args[0].input), [{
    Source: 'switchyard@example.com',
    Destination: { ToAddresses: ['oncall@example.com', 'lead@example.com'] },
    Message: {
      Subject: { Data: `Switchyard: job ${id} of billing dead-lettered`, Charset: 'UTF-8' },
      Body: {
        Text: {
          Data: [
            `Job ${id} was dead-lettered: it will not be attempted again unless retried by hand.`,
            '',
            `Job id:         ${id}`,
            'App:            billing',
            'Execution type: rest-api',
            'Attempts:       2',
            'Last error:     HTTP 500',
          ].join('\n'),
          Charset: 'UTF-8',
        },
      },
    },
  }]);
});

t.test('a job that fails or completes sends nothing', async (t) => {
  const target = await startTarget((request) => ({ status: request.url === '/gone' ? 404 : 200 }));
  t.teardown(() => target.close());
  const failed = await service.post('/v1/jobs/create', restJob(target.url, {}, { path: '/gone' }));
  const completed = await service.post('/v1/jobs/create', restJob(target.url));
  await service.waitForStatus(failed.body.id, 'failed');
  await service.waitForStatus(completed.body.id, 'completed');
  t.equal(ses.commandCalls(SendEmailCommand).length, 0);
});

t.test('a send that fails is logged and the job is still dead-lettered', async (t) => {
  ses.on(SendEmailCommand).rejects(Object.assign(new Error('Email address is not verified'), { name: 'MessageRejected' }));
  const target = await startTarget(() => ({ status: 503 }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url, { retry: { maxAttempts: 1 } }));
  const row = await service.waitForStatus(created.body.id, 'dead_lettered');
  t.equal(row.last_error, 'HTTP 503');
  const logged = await waitFor(() => service.logs.find((line) => line.startsWith(`dead-letter alert for job ${created.body.id}`)), { what: 'the log line' });
  t.equal(logged, `dead-letter alert for job ${created.body.id} not sent: Email address is not verified`);
});

function refusedVariable(env: Record<string, string>): string | undefined {
  try {
    parseConfig(env);
    return undefined;
  } catch (error) {
    return error instanceof ConfigError ? error.variable : String(error);
  }
}

t.test('ALERT_EMAIL_TO needs a sender and real addresses; the scheduler needs target and role together', async (t) => {
  t.equal(refusedVariable({ ALERT_EMAIL_TO: 'a@example.com' }), 'AWS_SES_FROM_EMAIL');
  t.equal(refusedVariable({ ALERT_EMAIL_TO: 'not-an-address', AWS_SES_FROM_EMAIL: 'x@example.com' }), 'ALERT_EMAIL_TO');
  t.same(parseConfig({}).alertEmailTo, []);
  t.equal(refusedVariable({ AWS_SCHEDULER_ROLE_ARN: 'arn:aws:iam::1:role/r' }), 'AWS_SCHEDULER_TARGET_ARN');
  t.equal(refusedVariable({ AWS_SCHEDULER_TARGET_ARN: 'arn:aws:lambda:eu-west-1:1:function:f' }), 'AWS_SCHEDULER_ROLE_ARN');
  t.equal(parseConfig({}).aws.schedulerGroupName, 'default');
});
