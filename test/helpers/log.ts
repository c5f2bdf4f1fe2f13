// A logger for a test's own service: real pino JSON lines, kept in memory twice over. `messages`
// holds each line's message, for a test that looks for a sentence; `records` holds the whole JSON
// line, for a test that greps everything logged (every field) for a secret.
import { createLogger, type Logger } from '../../src/ops/log.ts';

export async function capturingLogger(messages: string[], records: string[] = []): Promise<Logger> {
  return createLogger({
    level: 'info',
    destination: {
      write(line: string) {
        messages.push((JSON.parse(line) as { msg?: string }).msg ?? '');
        records.push(line.trimEnd());
      },
    },
  });
}
