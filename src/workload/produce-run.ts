import type { NotDurableError } from '../errors.js';
import type { BatchTracer } from '../pipeline/batch-tracer.js';
import { Producer, type ProducerStats } from '../pipeline/producer.js';
import { RunRecorder } from '../pipeline/run-recorder.js';
import type { RunRecord } from '../pipeline/runs.js';
import type { ScriptClient } from '../pipeline/scripts/scripts.js';
import type { Topology } from '../pipeline/topology.js';
import type { EventSource } from './event-source.js';
import { sendOpenLoop } from './pacer.js';

/** How often the run record is saved while the run goes on. */
const SAVE_EVERY_MS = 1000;

export interface ProduceRunOptions {
  client: ScriptClient;
  topology: Topology;
  runId: string;
  producerId: string;
  batch: number;
  lingerMs: number;
  durable: boolean;
  /** With `durable`: how long an append may wait for a replica (ms). */
  durableTimeoutMs?: number;
  source: EventSource;
  /** Events per second, open loop; 0: as fast as the producer takes them. */
  rate: number;
  /** Events to send at most (Infinity: until the source ends or the duration passes). */
  total: number;
  durationMs: number | undefined;
  signal: AbortSignal;
  /** Spans around the appends, when tracing is on. */
  tracer?: BatchTracer | undefined;
}

export interface ProduceRun {
  /** The producer's counters, live while the run goes on. */
  readonly stats: ProducerStats;
  /** Resolves with the final run record once every event is acked or given up (or the run aborted). */
  readonly done: Promise<RunRecord>;
  /** Set when an append was not durable in time (durable mode): the run stopped early because of it. */
  notDurable(): NotDurableError | undefined;
}

/**
 * Sends `source` through an idempotent producer at `rate`, recording the run (saved every second
 * and at the end, `aborted` when `signal` stopped it) so that `verify` can audit it. In durable
 * mode, an append that no replica acknowledged in time stops the run too (`aborted`, see `notDurable`).
 */
export async function startProduceRun(o: ProduceRunOptions): Promise<ProduceRun> {
  const producer = new Producer({
    client: o.client,
    topology: o.topology,
    producerId: o.producerId,
    batch: o.batch,
    lingerMs: o.lingerMs,
    durable: o.durable,
    ...(o.durableTimeoutMs !== undefined ? { durableTimeoutMs: o.durableTimeoutMs } : {}),
    tracer: o.tracer,
  });
  const stop = new AbortController();
  const abort = () => stop.abort();
  o.signal.addEventListener('abort', abort, { once: true });
  producer.onNotDurable = abort;
  await producer.init();
  const recorder = new RunRecorder(o.client, o.topology, producer, {
    runId: o.runId,
    producerId: o.producerId,
    rate: o.rate,
  });
  await recorder.save('running');
  let lastSave = performance.now();
  const done = (async () => {
    try {
      await sendOpenLoop({
        producer,
        source: o.source,
        rate: o.rate,
        total: o.total,
        durationMs: o.durationMs,
        signal: stop.signal,
        onTick: async (now) => {
          if (now - lastSave > SAVE_EVERY_MS) {
            lastSave = now;
            await recorder.save('running');
          }
        },
      });
      await producer.close();
    } finally {
      o.signal.removeEventListener('abort', abort);
      await recorder.save(stop.signal.aborted ? 'aborted' : 'done');
    }
    return recorder.snapshot();
  })();
  return { stats: producer.stats, done, notDurable: () => producer.notDurableError };
}
