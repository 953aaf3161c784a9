import { stageBacklog } from '../pipeline/backlog.js';
import type { ScriptClient } from '../pipeline/scripts/scripts.js';
import type { Topology } from '../pipeline/topology.js';

/**
 * The pipeline lag that backpressure is decided on: undelivered entries summed over the stages.
 * Reading it costs a round trip per stage, so a value is reused for `refreshMs`, and concurrent
 * requests that find it stale share one refresh instead of each starting their own.
 */
export class LagGate {
  private lag = { value: 0, at: -Infinity };
  private refresh: Promise<number> | undefined;

  constructor(
    private readonly client: ScriptClient,
    private readonly topology: Topology,
    private readonly refreshMs: number,
  ) {}

  /** The lag, at most `refreshMs` old. Rejects when it cannot be read. */
  async current(): Promise<number> {
    if (performance.now() - this.lag.at < this.refreshMs) return this.lag.value;
    this.refresh ??= Promise.all(this.topology.stages.map((s) => stageBacklog(this.client, this.topology, s.name)))
      .then((all) => {
        this.lag = { value: all.reduce((a, s) => a + s.lag, 0), at: performance.now() };
        return this.lag.value;
      })
      .finally(() => (this.refresh = undefined));
    return this.refresh;
  }
}
