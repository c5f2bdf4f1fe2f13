// The AWS clients, built from config on first use. Endpoints are not configured here: the SDK itself
// reads AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (LAMBDA, SCHEDULER, SES, ...), which is how
// local emulators such as serverless-offline are reached. Regions fall back to the SDK's own chain
// (AWS_REGION, the shared config file) when the config names none.
//
// Each SDK package is imported only when its client is first asked for: loaded at start they cost
// a process that runs only REST jobs (the usual case) about 30 MB of resident memory for code it
// never calls (docs/performance.md, "What bounds each figure").
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { SESClient } from '@aws-sdk/client-ses';
import type { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { Config } from '../config/config.ts';

export type CredentialProvider = ReturnType<typeof defaultProvider>;

export interface AwsClients {
  lambda(): Promise<LambdaClient>;
  scheduler(): Promise<SchedulerClient>;
  ses(): Promise<SESClient>;
  /** The default provider chain (environment, SSO, shared files, container and instance roles), cached. */
  credentials: CredentialProvider;
  /** Destroys the clients that were built. */
  destroy(): void;
}

/** Calls `make` once, on the first call, and hands every caller its promise. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

/**
 * The default provider chain, its package loaded on the first call. The chain itself caches what it
 * resolved, as `defaultProvider()` does when imported at start.
 */
function lazyDefaultProvider(): CredentialProvider {
  const provider = once(async () => (await import('@aws-sdk/credential-provider-node')).defaultProvider());
  return async (options) => (await provider())(options);
}

export function createAwsClients(config: Config): AwsClients {
  const credentials = lazyDefaultProvider();
  // Switchyard retries through its lanes with its own backoff and records every attempt; an SDK
  // retry inside one attempt would hide attempts and stretch the attempt's time.
  const common = { credentials, maxAttempts: 1 };
  const built: { destroy(): void }[] = [];
  let destroyed = false;
  const build = <T extends { destroy(): void }>(make: () => Promise<T>) => once(async () => {
    const client = await make();
    // A client still loading when the service stopped is destroyed as soon as it exists.
    if (destroyed) client.destroy();
    else built.push(client);
    return client;
  });
  return {
    lambda: build(async () => new (await import('@aws-sdk/client-lambda')).LambdaClient({ ...common, region: config.aws.lambdaRegion })),
    scheduler: build(async () => new (await import('@aws-sdk/client-scheduler')).SchedulerClient({ ...common, region: config.aws.schedulerRegion })),
    ses: build(async () => new (await import('@aws-sdk/client-ses')).SESClient({ ...common, region: config.aws.sesRegion })),
    credentials,
    destroy: () => {
      destroyed = true;
      for (const client of built) client.destroy();
    },
  };
}
