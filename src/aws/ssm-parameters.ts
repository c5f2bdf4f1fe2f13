// Secret settings read from SSM Parameter Store when a Lambda container starts, so the deployment
// template carries parameter names only. One decrypted GetParameters call per cold start (SSM takes
// up to ten names a call; there are three secret settings); the caller keeps the values for the
// container's life. The SDK package is loaded only here, and only when a parameter is named.
import type { SSMClient } from '@aws-sdk/client-ssm';
import { ConfigError, type SecretSetting } from '../config/config.ts';

/**
 * The value of each named parameter, by the setting it is for. A parameter that does not exist is a
 * ConfigError naming the variable that named it: the function cannot start without it.
 */
export async function readSecretParameters(
  names: Map<SecretSetting, string>,
  client?: SSMClient,
): Promise<Partial<Record<SecretSetting, string>>> {
  if (names.size === 0) return {};
  const { GetParametersCommand, SSMClient } = await import('@aws-sdk/client-ssm');
  const ssm = client ?? new SSMClient({});
  try {
    const unique = [...new Set(names.values())];
    const result = await ssm.send(new GetParametersCommand({ Names: unique, WithDecryption: true }));
    const values = new Map((result.Parameters ?? []).map((parameter) => [parameter.Name!, parameter.Value ?? '']));
    const settings: Partial<Record<SecretSetting, string>> = {};
    for (const [setting, name] of names) {
      const value = values.get(name);
      if (value === undefined) throw new ConfigError(`${setting}_SSM_PARAMETER`, `names the SSM parameter "${name}", which does not exist or cannot be read`);
      settings[setting] = value;
    }
    return settings;
  } finally {
    if (!client) ssm.destroy();
  }
}
