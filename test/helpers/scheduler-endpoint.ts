// An EventBridge Scheduler endpoint for functions running under serverless-offline, where
// aws-sdk-client-mock cannot reach (another process). No Scheduler emulator exists, so this answers
// the two calls Switchyard makes (CreateSchedule, DeleteSchedule) as the restJson1 protocol has them,
// records what it was asked, and delivers nothing itself: the test plays EventBridge by invoking the
// target with the schedule's Input.
import { startTarget, type ReceivedRequest } from './target.ts';

export interface ScheduleRequest {
  method: string;
  name: string;
  body: any;
}

export interface SchedulerEndpoint {
  /** For AWS_ENDPOINT_URL_SCHEDULER. */
  url: string;
  requests(): ScheduleRequest[];
  close(): Promise<void>;
}

function scheduleRequestOf(request: ReceivedRequest): ScheduleRequest & { group: string } {
  const url = new URL(request.url, 'http://scheduler');
  const body = request.body.length ? JSON.parse(request.body.toString()) : {};
  return {
    method: request.method,
    name: decodeURIComponent(url.pathname.replace(/^\/schedules\//, '')),
    body,
    group: body.GroupName ?? url.searchParams.get('groupName') ?? 'default',
  };
}

export async function startSchedulerEndpoint(): Promise<SchedulerEndpoint> {
  const target = await startTarget((request) => {
    const { method, name, group } = scheduleRequestOf(request);
    const body = method === 'POST' ? { ScheduleArn: `arn:aws:scheduler:us-east-1:000000000000:schedule/${group}/${name}` } : {};
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  });
  return {
    url: target.url,
    requests: () => target.requests.map(scheduleRequestOf),
    close: () => target.close(),
  };
}
