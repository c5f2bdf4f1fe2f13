// The api Lambda function: the Koa app behind an API Gateway HTTP API, through serverless-http (which
// turns the event into a Node request and the response back into the payload API Gateway expects).
// After the answer is ready, a request that put a job in the DB lane wakes run-db-jobs.
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import serverless from 'serverless-http';
import { functionRuntime } from './runtime.ts';

let serve: ReturnType<typeof serverless> | undefined;

export async function handler(event: APIGatewayProxyEventV2, context: Context): Promise<unknown> {
  const runtime = await functionRuntime();
  serve ??= serverless(runtime.parts.app);
  try {
    return await serve(event, context);
  } finally {
    await runtime.wake.flush();
  }
}
