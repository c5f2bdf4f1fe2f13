// switchyard/client: a typed client for the Switchyard API, built on openapi-fetch with types that
// openapi-typescript generates from the OpenAPI document the service serves. Every route's request
// and response, errors included, comes from that document:
//
//   const client = createClient({ baseUrl: 'https://switchyard.example.com', apiKey });
//   const { data, error } = await client.POST('/v1/jobs/create', { body });
//
// It imports nothing of the service, only its generated types and openapi-fetch, so it runs
// wherever fetch does.
export * from './client.ts';
export * from './helpers.ts';
