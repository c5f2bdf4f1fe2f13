// Keeps credentials out of what an attempt records (jobs.last_error, jobs.last_response) and logs.
// A target may echo the request back (many debugging endpoints do), and an error message may quote
// a header, so every outcome is scrubbed of the secret values the request carried and of anything
// shaped like a credential.
import type { ExecutionRequest, Outcome } from './executor.ts';

export const REDACTED = '[redacted]';

// Header names whose values are credentials. Matched anywhere in the name, so x-api-key,
// proxy-authorization, x-upstream-token, x-amz-security-token and x-hub-signature-256 are all caught.
export const SECRET_HEADER = /authorization|api[-_]?key|cookie|token|secret|signature|password|credential|session/i;

// Credential shapes worth removing wherever they appear: bearer/basic values, SigV4, Switchyard
// and Standard Webhooks signatures (a signed request replays within the tolerance), AWS access key
// ids, and AWS secret keys or session tokens in key=value form.
const CREDENTIAL_PATTERNS: [RegExp, string][] = [
  [/\b(Bearer|Basic)\s+[\w.~+\/=-]+/gi, `$1 ${REDACTED}`],
  [/\bAWS4-HMAC-SHA256\s+[^\r\n"]+/g, REDACTED],
  [/\bt=\d+(,v1=[0-9a-f]{64})+/g, REDACTED],
  [/\bv1,[A-Za-z0-9+\/]{43}=/g, REDACTED],
  [/\b(AKIA|ASIA)[0-9A-Z]{16}\b/g, REDACTED],
  [/\b(aws_?secret_?access_?key|secretAccessKey|aws_?session_?token|sessionToken|x-amz-security-token|x-amz-signature)(["']?\s*[:=]\s*["']?)[^\s"'&,}]+/gi, `$1$2${REDACTED}`],
];

function headerValues(headers: unknown): string[] {
  if (headers === null || typeof headers !== 'object') return [];
  return Object.entries(headers).flatMap(([name, value]) => {
    if (!SECRET_HEADER.test(name)) return [];
    return (Array.isArray(value) ? value : [value]).filter((item): item is string => typeof item === 'string');
  });
}

/** The secret header values a request will send (its message's and its execution's). */
export function secretValuesOf(request: ExecutionRequest): string[] {
  const message = request.lambdaProxyMessage;
  const execution = request.execution as { headers?: unknown; targetExecution?: { headers?: unknown } };
  return [
    ...headerValues(message.headers),
    ...headerValues(message.multiValueHeaders),
    ...headerValues(execution.headers),
    ...headerValues(execution.targetExecution?.headers),
    ...(request.signingSecrets ?? []),
  ].filter((value) => value.length >= 4);
}

export function redactText(text: string, secretValues: string[] = []): string {
  let result = text;
  // Longest first, so a value containing another is removed whole.
  for (const value of [...secretValues].sort((a, b) => b.length - a.length)) result = result.split(value).join(REDACTED);
  for (const [pattern, replacement] of CREDENTIAL_PATTERNS) result = result.replace(pattern, replacement);
  return result;
}

export function redactOutcome(outcome: Outcome, secretValues: string[]): Outcome {
  const response = outcome.response && { ...outcome.response, body: redactText(outcome.response.body, secretValues) };
  if (outcome.kind === 'ok') return { kind: 'ok', response: response! };
  return { kind: outcome.kind, reason: redactText(outcome.reason, secretValues), ...(response ? { response } : {}) };
}
