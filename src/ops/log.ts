// Structured logs: one pino JSON line per event on stdout, so a log pipeline can filter by job id,
// app, lane or outcome without parsing prose; readable, coloured lines instead when a person runs
// the service in a terminal. Every part of the service takes a Logger from src/service.ts rather
// than writing to the console itself, so tests and tools can capture or silence it.
//
// Nothing here may carry a secret: callers log ids, counts, reasons that the executor registry has
// already redacted, and never request headers, keys or tokens.
import pino, { type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: LevelWithSilent;
  /** Human-readable lines (pino-pretty) instead of JSON. */
  pretty?: boolean;
  /** Where the lines go; stdout when not given. */
  destination?: DestinationStream;
}

/**
 * pino-pretty is loaded only when asked for: a service writing JSON (production, the tests) never
 * holds its code. It runs as a stream in this thread, not as a worker-thread transport, so a
 * terminal session costs no extra thread and a crash loses no buffered line.
 */
export async function createLogger(options: LoggerOptions): Promise<Logger> {
  const settings = { level: options.level, base: { service: 'switchyard' } };
  if (options.destination) return pino(settings, options.destination);
  if (!options.pretty) return pino(settings);
  const { default: pretty } = await import('pino-pretty');
  return pino(settings, pretty({ colorize: true, sync: true, ignore: 'pid,hostname,service' }));
}

/** JSON lines to stdout, made at once: for a Lambda function, whose output CloudWatch keeps as it is. */
export function jsonLogger(level: LevelWithSilent): Logger {
  return pino({ level, base: { service: 'switchyard' } });
}

/** For tools and tests that have nothing to say. */
export const silentLogger: Logger = pino({ level: 'silent' });
