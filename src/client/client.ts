// The client and the names of the API's types. The types come from openapi-types.ts, which
// openapi-typescript generates from the OpenAPI document the service serves.
import createOpenApiClient, { mergeHeaders, type Client, type ClientOptions } from 'openapi-fetch';
import type { components, paths } from './openapi-types.ts';

export type { components, paths } from './openapi-types.ts';

type Schemas = components['schemas'];
export type CreateJobRequest = Schemas['CreateJobRequest'];
export type BatchCreateRequest = Schemas['BatchCreateRequest'];
export type CreatedJob = Schemas['CreatedJob'];
export type Job = Schemas['Job'];
export type JobPage = Schemas['JobPage'];
export type JobStatus = Schemas['JobStatus'];
/** Every error answer: `error` is a stable code (`validation_failed`, `job_not_found`, …), `fields` names each bad field. */
export type ErrorBody = Schemas['Error'];
/** The filters and page size of GET /v1/jobs. */
export type ListJobsQuery = NonNullable<paths['/v1/jobs']['get']['parameters']['query']>;

export type SwitchyardClient = Client<paths>;

export interface SwitchyardClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** Where the service listens, e.g. `https://switchyard.example.com` (no `/v1`). */
  baseUrl: string;
  /**
   * An app's API key (acts on that app's jobs; a create body may leave `appId` out) or an admin key
   * (acts on every app's). Sent as `Authorization: Bearer <key>`; a request's own `authorization`
   * header wins, for the /internal routes' token.
   */
  apiKey: string;
}

/** The openapi-fetch client for the Switchyard API, authenticated with `apiKey`. */
export function createClient({ apiKey, headers, ...options }: SwitchyardClientOptions): SwitchyardClient {
  if (!options.baseUrl) throw new TypeError('createClient: baseUrl is required, e.g. https://switchyard.example.com');
  if (!apiKey) throw new TypeError('createClient: apiKey is required (an app or admin API key)');
  return createOpenApiClient<paths>({ ...options, headers: mergeHeaders({ authorization: `Bearer ${apiKey}` }, headers) });
}

/** An error answer from the API, thrown by the helpers (the client itself returns `{ error }`). */
export class SwitchyardError extends Error {
  readonly status: number;
  readonly body: ErrorBody;
  constructor(status: number, body: ErrorBody) {
    super(`${status} ${body.error}: ${body.message}`);
    this.name = 'SwitchyardError';
    this.status = status;
    this.body = body;
  }
}
