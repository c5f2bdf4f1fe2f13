// lambda-url: the proxy message as an HTTP request to a Lambda Function URL, signed with SigV4
// (service `lambda`) so that URLs with AuthType AWS_IAM accept it. Timeout, classification and
// last_response are those of rest-api: the request is built, signed for its receiver and sent by
// the same code. The receiver's signatures matter most for a URL with AuthType NONE, which AWS
// does not authenticate: there they are the function's only proof of origin.
import { createHash } from 'node:crypto';
import type { LambdaUrlExecution } from '../model/message-schema.ts';
import type { ExecutionRequest, Executor, Outcome } from './executor.ts';
import { buildProxyRequest, type HttpRequestSpec } from './proxy-request.ts';
import type { Dispatcher } from 'undici';
import { sendHttp } from './http-send.ts';
import { jobHeaders, signForReceiver } from './rest-api.ts';

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

export interface LambdaUrlOptions {
  defaultTimeoutMs: number;
  /** Used when neither the job nor the URL names a region. */
  region: string | undefined;
  /** The AWS default provider chain in the server; tests may pass their own. */
  credentials: () => Promise<Credentials>;
  /** The SSRF guard's dispatcher (createGuardedDispatcher), shared with rest-api. */
  dispatcher: Dispatcher;
}

// https://<url-id>.lambda-url.<region>.on.aws/
const URL_REGION = /\.lambda-url\.([a-z]{2}(?:-[a-z]+)+-\d)\.on\.aws$/;

export function regionOf(execution: LambdaUrlExecution, fallback: string | undefined): string | undefined {
  return execution.region ?? URL_REGION.exec(new URL(execution.functionUrl).hostname)?.[1] ?? fallback;
}

/**
 * Signs the request as it will be sent: every header given here is signed, and the caller sends
 * exactly the returned headers. `x-amz-content-sha256` carries the body's hash, which the signature
 * covers, so a changed body is refused.
 */
async function signLambdaUrlRequest(spec: HttpRequestSpec, region: string, credentials: Credentials): Promise<HttpRequestSpec> {
  const headers: Record<string, string> = {};
  spec.headers.forEach((value, name) => {
    headers[name] = value;
  });
  headers.host = spec.url.host;
  headers['x-amz-content-sha256'] = createHash('sha256').update(spec.body ?? new Uint8Array()).digest('hex');
  const query: Record<string, string | string[]> = {};
  for (const key of new Set(spec.url.searchParams.keys())) {
    const values = spec.url.searchParams.getAll(key);
    query[key] = values.length === 1 ? values[0]! : values;
  }
  // URLSearchParams writes a space as "+", which AWS may read as a plus sign; sent the way SigV4
  // canonicalises it (%20), the query means the same to both sides.
  const url = new URL(spec.url);
  url.search = [...spec.url.searchParams].map(([key, value]) => `${rfc3986(key)}=${rfc3986(value)}`).join('&');
  // Loaded on the first lambda-url job, not at start, like the AWS clients (src/aws/clients.ts).
  const [{ SignatureV4 }, { Sha256 }] = await Promise.all([import('@smithy/signature-v4'), import('@aws-crypto/sha256-js')]);
  const signer = new SignatureV4({ service: 'lambda', region, credentials, sha256: Sha256 });
  const signed = await signer.sign({
    method: spec.method,
    protocol: spec.url.protocol,
    hostname: spec.url.hostname,
    port: spec.url.port === '' ? undefined : Number(spec.url.port),
    path: spec.url.pathname,
    query,
    headers,
    body: spec.body,
  });
  // fetch derives Host from the URL, to the same value that was signed.
  const sent = new Headers();
  for (const [name, value] of Object.entries(signed.headers)) if (name !== 'host') sent.set(name, value);
  return { ...spec, url, headers: sent };
}

function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

const NO_REGION = 'no region to sign for: give execution.region, use a *.lambda-url.<region>.on.aws URL, or set AWS_LAMBDA_REGION';

export function createLambdaUrlExecutor(options: LambdaUrlOptions): Executor {
  return {
    type: 'lambda-url',
    refusal(execution) {
      return regionOf(execution as LambdaUrlExecution, options.region) === undefined ? { field: 'region', message: NO_REGION } : undefined;
    },
    async execute(request: ExecutionRequest): Promise<Outcome> {
      const execution = request.execution as LambdaUrlExecution;
      const region = regionOf(execution, options.region);
      // Refused at create; a job stored before AWS_LAMBDA_REGION was unset still ends here.
      if (region === undefined) return { kind: 'fail', reason: NO_REGION };
      let credentials: Credentials;
      try {
        credentials = await options.credentials();
      } catch (error) {
        return { kind: 'retry', reason: `no AWS credentials to sign with: ${(error as Error).message}` };
      }
      const spec = buildProxyRequest(execution.functionUrl, request.lambdaProxyMessage, jobHeaders(request));
      signForReceiver(spec, request);
      const signed = await signLambdaUrlRequest(spec, region, credentials);
      return sendHttp(signed, execution.timeoutMs ?? options.defaultTimeoutMs, request.signal, options.dispatcher);
    },
  };
}
