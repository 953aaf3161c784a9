import { hopLatencies } from '../../bench/latency.js';
import { sendControl } from '../../embedded/control-client.js';
import { CONTROL_VERSION } from '../../embedded/control-protocol.js';
import { readDeployment } from '../../embedded/deployment.js';
import { readEvents } from '../../embedded/events-log.js';
import { eventsNearLoss, type EventsNearLoss } from '../../embedded/events-near-loss.js';
import { UsageError } from '../../errors.js';
import { collectSnapshot } from '../../observe/collect-snapshot.js';
import type { DeploymentEvent } from '../../observe/snapshot.js';
import { audit, type AuditReport } from '../../pipeline/audit.js';
import { waitDrained } from '../../pipeline/backlog.js';
import { decodeEntry } from '../../pipeline/codec.js';
import { Producer } from '../../pipeline/producer.js';
import { liveHeartbeats } from '../../pipeline/worker/heartbeats.js';
import { RunRecorder } from '../../pipeline/run-recorder.js';
import type { ScriptClient } from '../../pipeline/scripts/scripts.js';
import { ALERTS } from '../../pipeline/stages/cep/cep.js';
import type { Topology } from '../../pipeline/topology.js';
import type { RedisConnection } from '../../redis/connection.js';
import { sleep } from '../../wait.js';
import { metricWorkload } from '../../workload/metric-workload.js';
import { sendOpenLoop } from '../../workload/pacer.js';
import { aimFault } from '../aim.js';
import type { ChaosEnv } from '../chaos-env.js';
import { FAULT_ACTIONS, KERNEL_FAULTS } from '../faults/index.js';
import { nftSupport } from '../kernel/nft.js';
import { NETWORK_FAULTS } from '../faults/proxy-fault.js';
import { healAll, injectFaults, type FaultOutcome } from '../inject.js';
import { runScenario, type FinalData, type RunnerDeps, type ScenarioOutcome, type TimelineEntry } from './runner.js';
import type { Scenario, ScenarioFault } from './scenario.js';
import { splitBrain, type SplitBrain } from './split-brain.js';

/** How long the pipeline gets to drain after the load; an aborted run gets a moment only. */
const DRAIN_MS = 60_000;
const DRAIN_ABORTED_MS = 5000;
/** Alerts listed in the report at most (all are counted). */
const ALERTS_LISTED = 20;

/** The report of a run: the runner's outcome and what the deployment and the data say about it. */
export interface ScenarioReport extends ScenarioOutcome {
  name: string;
  runId: string;
  startedAt: string;
  target: { source: string; urls: string[]; embedded: boolean };
  audit: Pick<AuditReport, 'lostRanges' | 'lostWindows' | 'undeliveredByStage'> | undefined;
  /** Embedded deployment: its events (failovers, restarts) beside the lost seqs, when events were lost. */
  nearLoss: EventsNearLoss | undefined;
  alerts: { count: number; byRule: Record<string, number>; first: Record<string, unknown>[] };
  /** The load's producer: appends retried (errors), retries that had landed (deduplicated), given up (failed). */
  producer: { sent: number; acked: number; errors: number; deduplicated: number; failed: number };
  /**
   * The workers' reference lookups during the run (from their heartbeats): how often the breaker
   * opened, lookups that failed, and fields answered degraded (without Redis).
   */
  lookups: { breakerOpened: number; failures: number; degraded: number };
  /** A partition's account: the cut, its detection, the heal, the writes lost and when they were sent. */
  splitBrain: SplitBrain | undefined;
}

export interface LiveRunOptions {
  env: ChaosEnv;
  conn: RedisConnection;
  client: ScriptClient;
  topology: Topology;
  scenario: Scenario;
  /** The scenario's name (its file, or the built-in's name). */
  name: string;
  /** Confirms faults against a Redis that streamctl did not start. */
  yes: boolean;
  /** The run's progress, every second and at each change of phase (a live screen). */
  onProgress?: RunnerDeps['progress'];
}

/**
 * Checks before anything starts that every fault of the scenario may be applied to this target.
 * @throws UsageError NOT_HERE or CONFIRM_FAULT (exit 2: the verdict would be invalid).
 */
export function checkScenarioTarget(env: ChaosEnv, s: Scenario, yes: boolean): void {
  if (env.deployment) {
    const network = s.method.filter((m) => NETWORK_FAULTS.includes(m.fault)).map((m) => m.fault);
    if (network.length && !hasFaultProxy(env))
      throw new UsageError(
        'NO_FAULT_PROXY',
        `${network.join(', ')} act through the deployment's fault proxies, and it runs none`,
        'start it with `streamctl up --fault-proxy` (see `streamctl chaos doctor`)',
      );
    return;
  }
  const local = s.method.filter((m) => !FAULT_ACTIONS[m.fault].external).map((m) => m.fault);
  if (local.length)
    throw new UsageError(
      'NOT_HERE',
      `${local.join(', ')} act on the processes of the embedded deployment; ${env.urls.join(',')} (${env.source}) is a Redis streamctl did not start`,
      "run it against `streamctl up`'s deployment (drop --redis), or use only failover and client-pause",
    );
  if (!yes)
    throw new UsageError(
      'CONFIRM_FAULT',
      `this scenario would ${s.method.map((m) => FAULT_ACTIONS[m.fault].summary.replace(/ \(.*\)$/, '')).join(', then ')} on ${env.urls.join(',')}, a Redis that streamctl did not start`,
      'add --yes to go ahead',
    );
}

/** Whether the target is an embedded deployment that runs fault proxies (as its record says now). */
export function hasFaultProxy(env: ChaosEnv): boolean {
  return Boolean(env.deployment && readDeployment(env.home)?.nodes.some((n) => n.proxyPort));
}

/** Whether a scenario's faults act in the kernel (nftables). */
export function needsKernel(s: Scenario): boolean {
  return s.method.some((m) => KERNEL_FAULTS.includes(m.fault));
}

/** Why kernel faults cannot act on this deployment, or undefined when they can. */
export async function kernelUnavailable(env: ChaosEnv): Promise<string | undefined> {
  const nft = await nftSupport();
  if (!nft.ok) return `they need nftables as root (${nft.reason})`;
  if (!env.deployment?.cgroups) return "they need the deployment's processes in cgroups (`streamctl up` as root)";
  return undefined;
}

/** Whether a scenario's faults need the fault proxies. */
export function needsFaultProxy(s: Scenario): boolean {
  return s.method.some((m) => NETWORK_FAULTS.includes(m.fault));
}

/** One outcome for a method entry that hit several targets (`count: 2`): seen when every one was. */
function merged(outcomes: FaultOutcome[]): FaultOutcome {
  if (outcomes.length === 1) return outcomes[0]!;
  const first = outcomes[0]!;
  const failed = outcomes.find((o) => o.revertError !== undefined);
  return {
    ...first,
    applied: outcomes.map((o) => o.applied).join('; '),
    seen: outcomes.every((o) => o.seen),
    evidence: outcomes.map((o) => o.evidence ?? 'not seen').join('; '),
    seenAfterMs: Math.max(...outcomes.map((o) => o.seenAfterMs ?? 0)),
    ...(failed ? { revertError: failed.revertError } : { reverted: outcomes.map((o) => o.reverted).join('; ') }),
    totalMs: Math.max(...outcomes.map((o) => o.totalMs)),
  };
}

/** The alerts cep raised in the namespace since `fromMs` (by their entries' ids), by rule. */
async function alertsSince(o: LiveRunOptions, fromMs: number): Promise<ScenarioReport['alerts']> {
  const out: ScenarioReport['alerts'] = { count: 0, byRule: {}, first: [] };
  for (let k = 0; k < o.topology.partitions; k++) {
    let start = `${fromMs}-0`;
    for (;;) {
      const page = (await o.client.xrangeBuffer(o.topology.keys.stream(k, ALERTS), start, '+', 'COUNT', 500)) as [
        Buffer,
        Buffer[],
      ][];
      for (const [, fields] of page) {
        let events;
        try {
          events = decodeEntry(fields);
        } catch {
          continue;
        }
        for (const e of events) {
          out.count++;
          let alert: Record<string, unknown> = {};
          try {
            alert = JSON.parse(e.data.toString('utf8')) as Record<string, unknown>;
          } catch {
            // Counted, not listed.
          }
          const rule = typeof alert.rule === 'string' ? alert.rule : '?';
          out.byRule[rule] = (out.byRule[rule] ?? 0) + 1;
          if (out.first.length < ALERTS_LISTED) out.first.push(alert);
        }
      }
      if (page.length < 500) break;
      start = `(${page[page.length - 1]![0].toString()}`;
    }
  }
  return out;
}

/**
 * Runs a scenario against the running deployment: streamctl's own open-loop producer as the load,
 * the faults through the fault layer, the health snapshot every second for the live gates, then the
 * drain, the audit and the latency per second at the sink. Returns the report; never leaves a fault
 * behind (the runner's rollbacks heal, and each fault reverts itself).
 */
export async function runScenarioLive(o: LiveRunOptions): Promise<ScenarioReport> {
  const { env, client, topology, scenario: s } = o;
  checkScenarioTarget(env, s, o.yes);
  const runId = `chaos-${Date.now().toString(36)}`;
  const producerId = `p-${runId}`;
  const producer = new Producer({ client, topology, producerId, durable: s.load.durable });
  await producer.init();
  const recorder = new RunRecorder(client, topology, producer, { runId, producerId, rate: s.load.rate });
  let loadStart = Date.now();
  let report: AuditReport | undefined;
  const lookupsBefore = await lookupTotals(client, topology.keys.ns);

  const outcome = await runScenario(s, {
    now: () => performance.now(),
    sleep: (ms, signal) => sleep(ms, signal).catch(() => undefined),
    startLoad() {
      const stop = new AbortController();
      loadStart = Date.now();
      const source = metricWorkload({ keys: s.load.keys, seed: 1, anomalyRate: s.load.anomaly_rate });
      const total = Math.floor((s.load.rate * s.load.duration) / 1000);
      const done = (async () => {
        await sendOpenLoop({
          producer,
          source,
          rate: s.load.rate,
          total,
          durationMs: s.load.duration,
          signal: stop.signal,
        });
        await producer.close();
        await recorder.save('done');
      })();
      return { done, stop: () => stop.abort() };
    },
    async inject(f: ScenarioFault, signal) {
      const faultEnv: ChaosEnv = { ...env, signal };
      const faults = await aimFault(faultEnv, {
        kind: f.fault,
        node: f.node,
        role: f.role,
        random: f.random,
        seed: f.seed,
        stage: f.stage,
        count: f.count,
        for: f.for,
        mode: f.mode,
        all: f.all,
        ms: f.ms,
        jitter: f.jitter,
        kbps: f.kbps,
        direction: f.direction,
        percent: f.percent,
      });
      return merged(await injectFaults(faultEnv, faults));
    },
    async probe() {
      const snap = await collectSnapshot(o.conn, topology.keys.ns);
      const lastOut = Math.max(
        0,
        ...snap.streams.filter((x) => x.key.endsWith(':out') && x.lastId).map((x) => Number(x.lastId!.split('-')[0])),
      );
      return {
        lag: snap.stages.reduce((a, x) => a + x.lag + x.pending, 0),
        health: snap.status,
        deadLetters: snap.stages.reduce((a, x) => a + (x.deadLetters ?? 0), 0),
        stallMs: Math.max(0, Date.now() - Math.max(lastOut, loadStart)),
      };
    },
    async finish(aborted): Promise<FinalData> {
      await waitDrained(client, topology, {
        timeoutMs: aborted ? DRAIN_ABORTED_MS : DRAIN_MS,
        intervalMs: 100,
        signal: new AbortController().signal,
      }).catch(() => false);
      const run = recorder.snapshot();
      report = await audit(client, topology, run);
      const hops = await hopLatencies(client, topology, run.producer, run.firstSeq, run.lastSeq, {
        originMs: loadStart,
      });
      const sink = hops[hops.length - 1];
      return {
        produced: report.produced,
        delivered: report.delivered,
        lost: report.lost,
        duplicates: report.duplicates,
        undelivered: report.undelivered,
        deadLettered: report.deadLettered,
        throughput: (sink?.commitsOverTime ?? []).map((w) => ({ t: w.t, events: w.events })),
        p99: (sink?.overTime ?? []).map((w) => ({ t: w.t, p99: w.p99 })),
        unavailabilityMs: sink?.longestGapMs ?? 0,
      };
    },
    async rollback(action) {
      if (action === 'heal') {
        const healed = await healAll(env);
        const failed = healed.filter((h) => h.revertError !== undefined);
        if (failed.length) throw new Error(failed.map((h) => `${h.fault.kind}: ${h.revertError}`).join('; '));
        return healed.length ? `reverted ${healed.length} fault(s) left recorded` : 'no fault left to revert';
      }
      if (!env.deployment) return 'not the embedded deployment: no supervisor to ask';
      const r = await sendControl(env.home, { v: CONTROL_VERSION, kind: 'repair' });
      return r.started.length ? `started again: ${r.started.join(', ')}` : 'nothing to repair';
    },
    say: env.say,
    progress: o.onProgress,
    signal: env.signal,
  });

  // What the deployment did meanwhile: failovers, exits and restarts, on the run's timeline.
  const events: DeploymentEvent[] = env.deployment ? readEvents(env.home, 1000) : [];
  const startMs = loadStart;
  const during = events.filter(
    (e) =>
      Date.parse(e.time) >= startMs &&
      Date.parse(e.time) <= startMs + outcome.durationMs &&
      // The run's own faults are on the timeline already.
      !['request', 'fault', 'healed'].includes(e.kind),
  );
  const timeline: TimelineEntry[] = [
    ...outcome.timeline,
    ...during.map((e) => ({
      atMs: Date.parse(e.time) - startMs,
      kind: 'deployment' as const,
      text: `${e.kind} ${e.process}${e.reason ? `: ${e.reason}` : ''}`,
    })),
  ].sort((a, b) => a.atMs - b.atMs);
  const lost = (report?.lost ?? 0) > 0;
  return {
    ...outcome,
    timeline,
    name: o.name,
    runId,
    startedAt: new Date(startMs).toISOString(),
    target: { source: env.source, urls: env.urls, embedded: Boolean(env.deployment) },
    audit: report
      ? {
          lostRanges: report.lostRanges,
          lostWindows: report.lostWindows,
          undeliveredByStage: report.undeliveredByStage,
        }
      : undefined,
    nearLoss:
      lost && env.deployment
        ? eventsNearLoss(report!.lostWindows, { startedAt: startMs, endedAt: startMs + outcome.durationMs }, events)
        : undefined,
    alerts: await alertsSince(o, startMs),
    producer: {
      sent: producer.stats.sent,
      acked: producer.stats.acked,
      errors: producer.stats.errors,
      deduplicated: producer.stats.deduplicated,
      failed: producer.stats.failed,
    },
    lookups: lookupDelta(lookupsBefore, await lookupTotals(client, topology.keys.ns)),
    splitBrain: splitBrain({
      timeline: outcome.timeline,
      faults: outcome.faults,
      lost: report?.lost ?? 0,
      lostSpan: report?.lostSpan,
      startMs,
      durable: s.load.durable,
    }),
  };
}

type LookupTotals = Map<string, ScenarioReport['lookups']>;

/** The live workers' lookup counters, by worker id. */
async function lookupTotals(client: ScriptClient, ns: string): Promise<LookupTotals> {
  const out: LookupTotals = new Map();
  for (const h of await liveHeartbeats(client, ns).catch(() => []))
    if (h.lookup)
      out.set(h.id, {
        breakerOpened: h.lookup.breakerOpened,
        failures: h.lookup.failures,
        degraded: h.lookup.degraded,
      });
  return out;
}

/** What the workers counted between two readings (a worker that started meanwhile counts from 0). */
function lookupDelta(before: LookupTotals, after: LookupTotals): ScenarioReport['lookups'] {
  const sum = { breakerOpened: 0, failures: 0, degraded: 0 };
  for (const [id, a] of after) {
    const b = before.get(id) ?? { breakerOpened: 0, failures: 0, degraded: 0 };
    sum.breakerOpened += a.breakerOpened - b.breakerOpened;
    sum.failures += a.failures - b.failures;
    sum.degraded += a.degraded - b.degraded;
  }
  return sum;
}
