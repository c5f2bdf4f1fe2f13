// An EventBridge Scheduler endpoint for functions running under serverless-offline, where
// aws-sdk-client-mock cannot reach (another process). No Scheduler emulator exists, so this answers
// the two calls Switchyard makes (CreateSchedule, DeleteSchedule) as the restJson1 protocol has them,
// records what it was asked, and delivers nothing itself: the test plays EventBridge by invoking the
// target with the schedule's Input.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScheduleRequest {
  method: string;
  name: string;
  body: any;
}

export interface SchedulerEndpoint {
  /** For AWS_ENDPOINT_URL_SCHEDULER. */
  url: string;
  requests: ScheduleRequest[];
  close(): Promise<void>;
}

export async function startSchedulerEndpoint(): Promise<SchedulerEndpoint> {
  const requests: ScheduleRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://scheduler');
    const name = decodeURIComponent(url.pathname.replace(/^\/schedules\//, ''));
    const text = Buffer.concat(chunks).toString();
    const body = text ? JSON.parse(text) : {};
    requests.push({ method: req.method ?? '', name, body });
    const group = body.GroupName ?? url.searchParams.get('groupName') ?? 'default';
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(req.method === 'POST' ? JSON.stringify({ ScheduleArn: `arn:aws:scheduler:us-east-1:000000000000:schedule/${group}/${name}` }) : '{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
