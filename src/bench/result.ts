import type { Comparison } from './compare.js';
import type { LatencySummary } from './latency.js';
import type { MaxRateResult } from './max-rate.js';

/** One process of the bench: a worker on this host, the bench's own producer, or a Redis node. */
export interface ProcessRow {
  name: string;
  pid?: number;
  /** CPU over the measurement, percent of one core; -1 when unknown. */
  cpuPercent: number;
  /** Resident memory at the end, MB; -1 when unknown. */
  rssMb: number;
}

/** What the Redis underneath does with no pipeline logic at all. */
export interface Calibration {
  xaddPerSecond: number;
  redisBenchmarkXaddPerSecond: number | null;
  pingMs: number;
}

/** The shape of `streamctl bench --json`. Commands may add fields; readers use what they know. */
export interface BenchResult {
  namespace: string;
  pipeline: string[];
  mode: string;
  calibration: Calibration | null;
  /** `sent` and the send rate include the warm-up's events; the latency does not. */
  load: {
    rate: number;
    durationMs: number;
    sent: number;
    sendSeconds: number;
    achievedSendRate: number;
    warmupMs?: number;
  };
  throughput: { endToEndSeconds: number; eventsPerSecond: number; drained: boolean };
  latency: LatencySummary[];
  processes: ProcessRow[];
  /** Pipeline lag (entries undelivered or pending, all stages), ms since the load started. */
  lagOverTime: { t: number; lag: number }[];
  audit: { lost: number; duplicates: number; delivered: number; outOfOrderKeys: number };
  /** `--max`: the search for the highest sustainable rate. */
  max?: MaxRateResult | null;
  /** `--compare`: this run against an earlier one. */
  comparison?: Comparison | null;
}
