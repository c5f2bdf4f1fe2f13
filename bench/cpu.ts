// CPU time by process, read from /proc: on a shared 2-core machine the rates move with whatever
// else runs, while the CPU each part spends per job says which part bounds a figure.
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces; the fields after it are plain.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** User + system CPU of one process, in ms; with `children`, also that of its reaped children. */
export function processCpuMs(pid: number, children = false): number {
  const fields = statFields(pid);
  if (!fields) return 0;
  // After the command name: state is field 3, so utime (14) is index 11, stime 12, cutime 13, cstime 14.
  const ticks = Number(fields[11]) + Number(fields[12]) + (children ? Number(fields[13]) + Number(fields[14]) : 0);
  return ticks * TICK_MS;
}

/** The CPU of a PostgreSQL server: the postmaster, its live backends and those already gone. */
export function serverCpuMs(postmasterPid: number): number {
  let total = processCpuMs(postmasterPid, true);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields && Number(fields[1]) === postmasterPid) total += processCpuMs(Number(entry));
  }
  return total;
}

export interface CpuPerJob {
  /** µs of CPU per job spent by the measured process (the Switchyard service, or the pg-boss process). */
  process: number;
  /** µs per job spent by PostgreSQL; null on an external server. */
  postgres: number | null;
  /** µs per job spent by the benchmark process itself (the HTTP target, the client); null when not measured. */
  bench: number | null;
}

/** Starts counting CPU; `perJob(n)` divides what each part spent since by n jobs. */
export function cpuMeter(pid: number, postmasterPid: number | undefined, withBench: boolean) {
  const benchMs = () => {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  };
  const measured = () => (pid === process.pid ? benchMs() : processCpuMs(pid));
  const start = { process: measured(), postgres: postmasterPid ? serverCpuMs(postmasterPid) : 0, bench: benchMs() };
  return {
    perJob(jobs: number): CpuPerJob {
      const us = (ms: number) => Math.round((ms * 1000) / jobs);
      return {
        process: us(measured() - start.process),
        postgres: postmasterPid ? us(serverCpuMs(postmasterPid) - start.postgres) : null,
        bench: withBench ? us(benchMs() - start.bench) : null,
      };
    },
  };
}
