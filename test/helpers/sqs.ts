// A real SQS-protocol peer for tests: fauxqs on a free loopback port, reached by the AWS SDK
// through its standard endpoint variable, exactly as a deployment would reach an emulator.
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { createServer, request } from 'node:http';

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

/** One SQS API call that went through the proxy: its action (DeleteMessage, …), request and answer. */
export interface SqsCall {
  action: string;
  request: any;
  response?: any;
  at: number;
  answeredAt?: number;
}

export interface SqsProxy {
  /** The proxy's base URL, for AWS_ENDPOINT_URL_SQS. */
  url: string;
  /** The queue URL as seen through the proxy. */
  queueUrl(direct: string): string;
  calls: SqsCall[];
  /** Decides, call by call, whether it reaches SQS; 'drop' closes the connection unanswered. */
  intercept: (call: SqsCall) => 'forward' | 'drop';
  close(): Promise<void>;
}

/**
 * A proxy on loopback in front of the emulator, for a service running as a child process: the test
 * sees every SQS call the service makes and can stop one on its way (say, the DeleteMessage that
 * follows a recorded outcome) to kill the service at exactly that step.
 */
export async function startSqsProxy(sqs: TestSqs): Promise<SqsProxy> {
  const calls: SqsCall[] = [];
  const proxy: SqsProxy = {
    url: '',
    queueUrl: (direct) => proxy.url + new URL(direct).pathname,
    calls,
    intercept: () => 'forward',
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const action = String(req.headers['x-amz-target'] ?? '').replace(/^AmazonSQS\./, '');
    const call: SqsCall = { action, request: body.length ? JSON.parse(body.toString()) : {}, at: Date.now() };
    calls.push(call);
    if (proxy.intercept(call) === 'drop') {
      res.socket?.destroy();
      return;
    }
    const upstream = request({ host: '127.0.0.1', port: sqs.port, method: req.method, path: req.url, headers: req.headers }, async (answer) => {
      const parts: Buffer[] = [];
      for await (const part of answer) parts.push(part as Buffer);
      const text = Buffer.concat(parts).toString();
      try {
        call.response = JSON.parse(text);
      } catch {
        call.response = text;
      }
      call.answeredAt = Date.now();
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      res.end(text);
    });
    upstream.on('error', () => res.socket?.destroy());
    upstream.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return proxy;
}
