import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { collectSnapshot } from '../observe/collect-snapshot.js';
import { liveHeartbeats } from '../pipeline/worker/heartbeats.js';
import type { RedisConnection } from '../redis/connection.js';
import { infoNumber, parseInfo } from '../redis/info.js';
import type { ProcessRow } from './result.js';

/**
 * CPU seconds (user + system), resident memory and its peak (VmHWM) of a local process, from
 * /proc; undefined elsewhere or when the process is gone.
 */
export function processStats(pid: number): { cpuSeconds: number; rssBytes: number; peakRssBytes: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kB = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
    return { cpuSeconds: ticks / 100, rssBytes: kB('VmRSS'), peakRssBytes: kB('VmHWM') };
  } catch {
    return undefined;
  }
}

/** A measurement of CPU and memory in progress; `finish` gives a row per process. */
export interface ProcessSampler {
  /** performance.now() at the start. */
  readonly startedAt: number;
  finish(): Promise<ProcessRow[]>;
}

/**
 * Starts measuring the CPU and memory of the workers of `ns` on this host (found by their
 * heartbeats), of this process (the bench's producer) and of every Redis node that answers.
 */
export async function sampleProcesses(conn: RedisConnection, ns: string): Promise<ProcessSampler> {
  const report = await collectSnapshot(conn, ns);
  const here = hostname();
  const workers = (await liveHeartbeats(conn.client(), ns)).filter((h) => h.host === here);
  const nodes = report.nodes.filter((n) => n.up);
  const redisCpu = () =>
    Promise.all(
      nodes.map(async (n) => {
        const at = n.address.lastIndexOf(':');
        const info = parseInfo(await conn.node(n.address.slice(0, at), Number(n.address.slice(at + 1))).info());
        return {
          cpu: (infoNumber(info, 'used_cpu_user') ?? 0) + (infoNumber(info, 'used_cpu_sys') ?? 0),
          rss: infoNumber(info, 'used_memory_rss') ?? 0,
        };
      }),
    );
  const startedAt = performance.now();
  const before = {
    workers: workers.map((w) => processStats(w.pid)),
    self: process.cpuUsage(),
    redis: await redisCpu(),
  };
  return {
    startedAt,
    async finish() {
      const elapsed = (performance.now() - startedAt) / 1000;
      const after = {
        workers: workers.map((w) => processStats(w.pid)),
        self: process.cpuUsage(before.self),
        redis: await redisCpu(),
      };
      return [
        ...workers.map((w, i) => {
          const a = after.workers[i];
          const b = before.workers[i];
          return {
            name: `worker ${w.stage}`,
            pid: w.pid,
            cpuPercent: a && b ? Math.round(((a.cpuSeconds - b.cpuSeconds) / elapsed) * 100) : -1,
            rssMb: a ? Math.round(a.rssBytes / 1048576) : -1,
          };
        }),
        {
          name: 'bench (producer)',
          pid: process.pid,
          cpuPercent: Math.round(((after.self.user + after.self.system) / 1e6 / elapsed) * 100),
          rssMb: Math.round(process.memoryUsage().rss / 1048576),
        },
        ...nodes.map((n, i) => ({
          name: `redis ${n.address} (${n.role})`,
          cpuPercent: Math.round(((after.redis[i]!.cpu - before.redis[i]!.cpu) / elapsed) * 100),
          rssMb: Math.round(after.redis[i]!.rss / 1048576),
        })),
      ];
    },
  };
}
