// The SQS lane is optional: without AWS_SQS_QUEUE_URL the SQS modes are refused with a clear 400,
// and a queue URL that is not FIFO refuses to start.
import t from 'tap';
import { ConfigError } from '../src/config/config.ts';
import { createTestDatabase } from './helpers/database.ts';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';

const database = await createTestDatabase();
t.teardown(() => database.close());

t.test('a queue URL that is not FIFO refuses to start, naming the variable', async (t) => {
  const error = await startTestService(t, {
    database,
    env: { AWS_SQS_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/orders', AWS_SQS_REGION: 'eu-west-1' },
  }).then(() => undefined, (failure: unknown) => failure);
  t.ok(error instanceof ConfigError, 'the start failed with a ConfigError');
  t.equal((error as ConfigError).variable, 'AWS_SQS_QUEUE_URL');
  t.match((error as ConfigError).message, 'AWS_SQS_QUEUE_URL must name a FIFO queue (its name ends in .fifo), got "orders"');
});

t.test('without an SQS queue: mode sqs and both get a 400 naming mode, and nothing is stored', async (t) => {
  const service = await startTestService(t, { database });
  for (const mode of ['sqs', 'both']) {
    const refused = await service.post('/v1/jobs/create', restJob('http://127.0.0.1:9', { mode }));
    t.equal(refused.status, 400);
    t.match(refused.body, { error: 'validation_failed', fields: [{ field: 'mode', message: /SQS lane/ }] });
  }
  t.equal(Number((await service.pool.query('SELECT count(*) FROM jobs')).rows[0].count), 0);

  const poll = await service.post('/internal/v1/poll-sqs', { limit: 5 }, { authorization: `Bearer ${INTERNAL_TOKEN}` });
  t.equal(poll.status, 409);
  t.match(poll.body, { error: 'sqs_not_configured', message: /AWS_SQS_QUEUE_URL/ });
  const unauthorised = await service.post('/internal/v1/poll-sqs', { limit: 5 });
  t.equal(unauthorised.status, 401);
  const badLimit = await service.post('/internal/v1/poll-sqs', { limit: 0 }, { authorization: `Bearer ${INTERNAL_TOKEN}` });
  t.equal(badLimit.status, 400);
  t.match(badLimit.body, { fields: [{ field: 'limit' }] });
});
