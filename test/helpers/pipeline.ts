import type { ChildProcess } from 'node:child_process';
import { finished, spawnCli, type CliResult } from './cli.js';

export interface WorkerProcess {
  stage: string;
  child: ChildProcess;
  exit: Promise<CliResult>;
}

/** Starts `streamctl worker --stage <stage>` of the passthrough pipeline (unless `extra` names another) against `url`/`ns`. */
export function startWorker(stage: string, url: string, ns: string, extra: string[] = []): WorkerProcess {
  const child = spawnCli([
    'worker',
    '--stage',
    stage,
    '--redis',
    url,
    '--namespace',
    ns,
    '--quiet',
    '--pipeline',
    'passthrough',
    ...extra,
  ]);
  return { stage, child, exit: finished(child) };
}

/** Stops workers with SIGTERM and waits for them to exit. */
export async function stopWorkers(workers: WorkerProcess[]): Promise<CliResult[]> {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
  return Promise.all(workers.map((w) => w.exit));
}
