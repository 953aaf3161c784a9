import type { ChaosEnv } from './chaos-env.js';
import type { ActiveFault as Fault, FaultKind } from './fault.js';

/**
 * What one kind of fault does. `apply` injects it; `check` tells whether it took effect (a result
 * counts only then); `revert` undoes it, and is safe to run when `apply` never ran or ran twice, so
 * that `chaos heal` may run it on any recorded fault.
 */
export interface FaultAction {
  kind: FaultKind;
  /** One line for `--help` and for the confirmation a Redis streamctl did not start needs. */
  summary: string;
  /** What it acts on. */
  target: 'node' | 'worker';
  /** Whether it may act on a Redis that streamctl did not start (only what Redis itself offers). */
  external: boolean;
  /** Whether it lasts `--for` a while (a pause); other faults are reverted once they are seen. */
  lasting: boolean;
  /** How long the fault may take to be seen, when longer than the default (a partition waits for failure detection). */
  checkMs?(env: ChaosEnv): number;
  /** Injects the fault; returns what it did, in words. */
  apply(env: ChaosEnv, f: Fault): Promise<string>;
  /** Evidence that the fault took effect, in words; undefined while it is not seen. */
  check(env: ChaosEnv, f: Fault): Promise<string | undefined>;
  /** Undoes the fault (or waits until what answers it has: a restarted process); returns what it did. */
  revert(env: ChaosEnv, f: Fault): Promise<string>;
}
