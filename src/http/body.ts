// Reads a request body (JSON, or an HTML form) with a size limit, without buffering more than the limit.
import type { Context } from 'koa';
import { HttpError } from './errors.ts';

export async function readJsonBody(ctx: Context, limitBytes: number): Promise<unknown> {
  const type = ctx.request.type;
  if (type !== 'application/json') {
    throw new HttpError(415, 'unsupported_media_type', 'send the body as application/json');
  }
  const text = (await readLimited(ctx, limitBytes)).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'invalid_json', 'the body is empty; send a JSON object');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, 'invalid_json', `the body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Reads an HTML form's body (application/x-www-form-urlencoded), as the dashboard's forms post it. */
export async function readFormBody(ctx: Context, limitBytes: number): Promise<URLSearchParams> {
  if (ctx.request.type !== 'application/x-www-form-urlencoded') {
    throw new HttpError(415, 'unsupported_media_type', 'send the form as application/x-www-form-urlencoded');
  }
  return new URLSearchParams((await readLimited(ctx, limitBytes)).toString('utf8'));
}

async function readLimited(ctx: Context, limitBytes: number): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limitBytes) throw new HttpError(413, 'payload_too_large', `the body may be at most ${limitBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  // Leaving a plain for-await early destroys the request, and with it the socket: a client still
  // sending a chunked body then got a reset instead of the 413. So the loop only stops reading, and
  // the rest of the body is then read and dropped (a body that never ends meets the request timeout).
  let tooLarge = false;
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) {
      tooLarge = true;
      break;
    }
    chunks.push(chunk as Buffer);
  }
  if (tooLarge) {
    ctx.req.resume();
    throw new HttpError(413, 'payload_too_large', `the body may be at most ${limitBytes} bytes`);
  }
  return Buffer.concat(chunks);
}
