// How the CLI speaks: results on stdout (a table for people, the API's JSON with --json), errors on
// stderr, and an exit code a script can test (documented in docs/operations.md).
export const EXIT = {
  ok: 0,
  /** The service (or the database) refused: not found, a state that does not allow it, bad input. */
  refused: 1,
  /** The command line itself is wrong. */
  usage: 2,
  /** Could not talk to the service or the database, or not allowed to: unreachable, 5xx, a bad key, missing settings. */
  unavailable: 3,
} as const;

/** An error that ends the command with its exit code and message. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message: string) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export interface Output {
  json: boolean;
  out(text: string): void;
  err(text: string): void;
  /** True when stderr is a terminal a progress bar can redraw. */
  interactive: boolean;
}

export const consoleOutput = (json: boolean): Output => ({
  json,
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  interactive: Boolean(process.stderr.isTTY),
});

/** Columns padded to their widest cell. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? '' : String(cell))))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => row[column]!.length)));
  return cells.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

const BAR_WIDTH = 30;

/**
 * A progress bar on stderr: redrawn in place on a terminal, else one line whenever another tenth is
 * done (so a log of a scripted run stays short). Never on stdout, which --json keeps for the result.
 */
export function progressBar(output: Output, label: string) {
  let lastTenth = -1;
  return {
    update(done: number, total: number, detail: string): void {
      const fraction = total > 0 ? Math.min(1, done / total) : 1;
      const line = `${label} [${'#'.repeat(Math.round(fraction * BAR_WIDTH)).padEnd(BAR_WIDTH, '-')}] ${done}/${total} ${detail}`;
      if (output.interactive) {
        process.stderr.write(`\r${line}`);
      } else if (Math.floor(fraction * 10) > lastTenth) {
        lastTenth = Math.floor(fraction * 10);
        output.err(line);
      }
    },
    finish(): void {
      if (output.interactive) process.stderr.write('\n');
    },
  };
}
