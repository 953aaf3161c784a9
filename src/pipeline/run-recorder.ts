import type { Cluster, Redis } from 'ioredis';
import type { Producer } from './producer.js';
import { saveRun, type RunRecord } from './runs.js';
import type { Topology } from './topology.js';

/**
 * The run record of a producer (`produce`, `serve`, `bench`): the seq range it handed out and its
 * counters, what `streamctl verify --run` audits. It can be saved while the run goes on, so that a
 * run still going, or one whose process died, can be audited up to its last save.
 */
export class RunRecorder {
  private readonly run: RunRecord;
  private saving: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  /** The producer must be initialized: its first seq starts the record. */
  constructor(
    private readonly client: Redis | Cluster,
    private readonly topology: Topology,
    private readonly producer: Producer,
    ids: { runId: string; producerId: string; rate?: number },
  ) {
    this.run = {
      id: ids.runId,
      kind: 'produce',
      producer: ids.producerId,
      status: 'running',
      startedAt: Date.now(),
      partitions: topology.partitions,
      rate: ids.rate ?? 0,
      firstSeq: producer.first,
      lastSeq: producer.first - 1,
      sent: 0,
      acked: 0,
      errors: 0,
      failed: 0,
      failedRanges: [],
    };
  }

  /** Saves the producer's counters under `status`; a status other than running also ends the run. */
  save(status: RunRecord['status']): Promise<void> {
    // Saves are chained so an older snapshot never overwrites a newer one.
    this.saving = this.saving
      .catch(() => {})
      .then(async () => {
        const { producer, run } = this;
        Object.assign(run, {
          status,
          lastSeq: producer.last,
          sent: producer.stats.sent,
          acked: producer.stats.acked,
          errors: producer.stats.errors,
          failed: producer.stats.failed,
          notDurable: producer.stats.notDurable,
          failedRanges: [...producer.stats.failedRanges],
        });
        if (status !== 'running') run.endedAt = Date.now();
        await saveRun(this.client, this.topology.keys, run);
      });
    return this.saving;
  }

  /**
   * Saves the running record every `everyMs`, skipping a tick while the last save is unanswered
   * so that a slow Redis does not pile them up; a failed save is reported to `log`.
   */
  startPeriodic(everyMs: number, log: ((message: string) => void) | undefined): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.save('running')
        .catch((err: unknown) => log?.(`saving run ${this.run.id} failed: ${(err as Error).message}`))
        .finally(() => (this.busy = false));
    }, everyMs);
  }

  stopPeriodic(): void {
    clearInterval(this.timer);
  }

  /** A copy of the record as last saved (or being saved). */
  snapshot(): RunRecord {
    return { ...this.run };
  }
}
