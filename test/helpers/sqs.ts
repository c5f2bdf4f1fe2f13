// A real SQS-protocol peer for tests: fauxqs on a free loopback port, reached by the AWS SDK
// through its standard endpoint variable, exactly as a deployment would reach an emulator.
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs, type FauxqsServer } from 'fauxqs';

export interface TestSqs {
  server: FauxqsServer;
  /** A client for the test's own sends, receives and inspections. */
  client: SQSClient;
  port: number;
  createFifoQueue(name: string, attributes?: Record<string, string>): Promise<string>;
  /** Stops the emulator: SQS is unreachable until `restart`. */
  stop(): Promise<void>;
  /** Starts an empty emulator on the same port (queues must be created again). */
  restart(): Promise<void>;
}

export async function startTestSqs(t: { teardown(fn: () => unknown): void }): Promise<TestSqs> {
  let server = await startFauxqs({ port: 0, logger: false });
  const port = server.port;
  process.env.AWS_ENDPOINT_URL_SQS = `http://127.0.0.1:${port}`;
  process.env.AWS_ACCESS_KEY_ID = 'test-access-key';
  process.env.AWS_SECRET_ACCESS_KEY = 'test-secret-key';
  const client = new SQSClient({ region: 'us-east-1' });
  let running = true;
  t.teardown(async () => {
    client.destroy();
    if (running) await server.stop();
  });
  return {
    get server() {
      return server;
    },
    client,
    port,
    async createFifoQueue(name, attributes = {}) {
      const { QueueUrl } = await client.send(new CreateQueueCommand({
        QueueName: name,
        Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'false', ...attributes },
      }));
      // fauxqs names its queues under *.localhost, which this machine does not resolve; the path
      // alone identifies the queue, so the loopback address serves the same queue.
      const url = new URL(QueueUrl!);
      return `http://127.0.0.1:${port}${url.pathname}`;
    },
    async stop() {
      running = false;
      await server.stop();
    },
    async restart() {
      server = await startFauxqs({ port, logger: false });
      running = true;
    },
  };
}
