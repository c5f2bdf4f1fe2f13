// One Switchyard per Lambda container, assembled on the first invocation and kept for the
// container's life: one small pool that pg-boss shares, one pg-boss instance, the executors and the
// services. No migrations (the migrate function runs them once per deploy), no embedded database, no
// HTTP listener, no workers: each function runs what its invocation brought and returns.
import { readSecretParameters } from '../aws/ssm-parameters.ts';
import { ConfigError, parseConfig, secretParameterNames, type Config } from '../config/config.ts';
import { assembleSwitchyard, type SwitchyardParts } from '../assembly.ts';
import { jsonLogger, type Logger } from '../ops/log.ts';
import { ReadyJobWake, WAKE_EVENT } from './ready-job-wake.ts';

export interface FunctionRuntime {
  config: Config & { databaseUrl: string };
  parts: SwitchyardParts;
  /** Sends the run-db-jobs wake a request earned (the api function calls it before answering). */
  wake: ReadyJobWake;
  log: Logger;
  /** Closes the pool and the clients; a Lambda container never needs it, a test or a local run does. */
  stop(): Promise<void>;
}


/**
 * The config of a function: the environment, with the secret settings that name an SSM parameter
 * read from it. A function has no embedded database to fall back on, so DATABASE_URL is required.
 */
export async function loadFunctionConfig(env: Record<string, string | undefined> = process.env): Promise<FunctionRuntime['config']> {
  const secrets = await readSecretParameters(secretParameterNames(env));
  const config = parseConfig({ ...env, ...secrets });
  if (config.databaseUrl === undefined) {
    throw new ConfigError('DATABASE_URL', 'must be set, or named with DATABASE_URL_SSM_PARAMETER: a Lambda function has no embedded database');
  }
  return { ...config, databaseUrl: config.databaseUrl, runWorkers: false };
}

async function start(): Promise<FunctionRuntime> {
  const config = await loadFunctionConfig();
  const log = jsonLogger(config.logLevel);
  const cleanups: (() => Promise<void>)[] = [];
  let parts: SwitchyardParts | undefined;
  const functionName = config.runDbJobsFunction;
  const wake = new ReadyJobWake(async () => {
    if (functionName === undefined || parts === undefined) return;
    const { InvokeCommand } = await import('@aws-sdk/client-lambda');
    const lambda = await parts.aws.lambda();
    await lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: JSON.stringify(WAKE_EVENT) }));
  }, log);
  const runCleanups = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => log.error({ reason: (error as Error).message }, `stop: ${(error as Error).message}`));
  };
  try {
    parts = await assembleSwitchyard(config, config.databaseUrl, {
      log,
      cleanups,
      lanesOnServicePool: true,
      maintainLanes: false,
      listenForChanges: false,
      onReadyJob: () => wake.noteReadyJob(),
    });
  } catch (error) {
    // A start that failed half-way leaves nothing open behind it; the next invocation starts afresh.
    await runCleanups();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  const stop = () => {
    started = undefined;
    return (stopping ??= runCleanups());
  };
  return { config, parts, wake, log, stop };
}

let started: Promise<FunctionRuntime> | undefined;

/** This container's Switchyard, started on the first call and kept while the container lives. */
export function functionRuntime(): Promise<FunctionRuntime> {
  started ??= start().catch((error) => {
    started = undefined;
    throw error;
  });
  return started;
}
