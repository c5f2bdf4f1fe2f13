// The CLI's side of the HTTP API: plain fetch against SWITCHYARD_URL with SWITCHYARD_KEY, mapping
// each kind of failure to an exit code and a message that says what to do.
import { CliError, EXIT } from './output.ts';

export interface ServiceSettings {
  url: string;
  key: string;
}

export function serviceSettings(env: Record<string, string | undefined>): ServiceSettings {
  const url = env.SWITCHYARD_URL?.trim() || 'http://127.0.0.1:8000';
  const key = env.SWITCHYARD_KEY?.trim();
  if (!key) throw new CliError(EXIT.unavailable, 'set SWITCHYARD_KEY to an API key (an admin key acts on every app); SWITCHYARD_URL says where the service is (default http://127.0.0.1:8000)');
  try {
    new URL(url);
  } catch {
    throw new CliError(EXIT.unavailable, `SWITCHYARD_URL is not a URL: ${url}`);
  }
  return { url: url.replace(/\/+$/, ''), key };
}

export async function call(settings: ServiceSettings, method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> {
  let response: Response;
  try {
    response = await fetch(settings.url + path, {
      method,
      headers: { authorization: `Bearer ${settings.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    // undici puts the socket's error in `cause`, an AggregateError when several addresses were tried.
    const { cause } = error as Error & { cause?: { code?: string; message?: string; errors?: { code?: string }[] } };
    const reason = cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (error as Error).message;
    throw new CliError(EXIT.unavailable, `cannot reach the service at ${settings.url} (${reason}); is it running, and is SWITCHYARD_URL right?`);
  }
  const text = await response.text();
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { message: text.slice(0, 200) };
  }
  if (response.ok) return parsed;
  const message = parsed?.message ?? `HTTP ${response.status}`;
  const fields = Array.isArray(parsed?.fields) ? `: ${parsed.fields.map((f: { field: string; message: string }) => `${f.field} ${f.message}`).join('; ')}` : '';
  if (response.status === 401 || response.status === 403) throw new CliError(EXIT.unavailable, `${message} (check SWITCHYARD_KEY)`);
  if (response.status >= 500) throw new CliError(EXIT.unavailable, `the service failed: ${message}`);
  throw new CliError(EXIT.refused, fields && parsed?.error === 'validation_failed' ? `invalid input${fields}` : message);
}
