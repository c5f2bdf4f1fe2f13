// The AWS clients, built once from config. Endpoints are not configured here: the SDK itself reads
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (LAMBDA, SCHEDULER, SES, ...), which is how local
// emulators such as serverless-offline are reached. Regions fall back to the SDK's own chain
// (AWS_REGION, the shared config file) when the config names none.
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SESClient } from '@aws-sdk/client-ses';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { Config } from '../config/config.ts';

export type CredentialProvider = ReturnType<typeof defaultProvider>;

export interface AwsClients {
  lambda: LambdaClient;
  scheduler: SchedulerClient;
  ses: SESClient;
  /** The default provider chain (environment, SSO, shared files, container and instance roles), cached. */
  credentials: CredentialProvider;
  destroy(): void;
}

export function createAwsClients(config: Config): AwsClients {
  const credentials = defaultProvider();
  // Switchyard retries through its lanes with its own backoff and records every attempt; an SDK
  // retry inside one attempt would hide attempts and stretch the attempt's time.
  const common = { credentials, maxAttempts: 1 };
  const lambda = new LambdaClient({ ...common, region: config.aws.lambdaRegion });
  const scheduler = new SchedulerClient({ ...common, region: config.aws.schedulerRegion });
  const ses = new SESClient({ ...common, region: config.aws.sesRegion });
  return {
    lambda,
    scheduler,
    ses,
    credentials,
    destroy: () => {
      lambda.destroy();
      scheduler.destroy();
      ses.destroy();
    },
  };
}
