import { renderTable } from '../table.js';
import { renderComparison } from './compare.js';
import type { BenchOutcome } from './bench-run.js';
import { renderPeers } from './peers/peer-comparison.js';

/** The text report of a bench run. */
export function renderBenchReport(outcome: BenchOutcome, o: { htmlFile?: string | undefined }): string {
  const { result, peers } = outcome;
  const { calibration, max, http, latency, processes, audit } = result;
  const n = (x: number) => x.toLocaleString('en');
  const lines: string[] = [];
  if (calibration) {
    lines.push(
      `calibration: XADD ${n(calibration.xaddPerSecond)}/s (ours, pipelined), ${calibration.redisBenchmarkXaddPerSecond === null ? 'n/a' : `${n(calibration.redisBenchmarkXaddPerSecond)}/s`} (redis-benchmark -P 32), round trip ${calibration.pingMs} ms`,
    );
  }
  const how = max
    ? `in ${max.steps.length} --max steps open loop`
    : http
      ? 'over HTTP, closed loop'
      : `at ${n(result.load.rate)}/s open loop`;
  lines.push(
    `load: ${n(result.load.sent)} events ${how} (achieved ${n(result.load.achievedSendRate)}/s); end to end ${n(result.throughput.eventsPerSecond)} events/s${result.throughput.drained ? '' : ' (NOT drained)'}`,
  );
  if (http) {
    const failures = Object.entries(http.statusCodes)
      .filter(([c]) => !c.startsWith('2'))
      .map(([c, k]) => `${c}: ${k}`)
      .join(', ');
    lines.push(
      `http: ${http.server} ingest ${http.url}, ${http.connections} connection(s): ${n(http.requests)} requests (${n(http.requestsPerSecond)}/s), ${n(http.eventsPerSecond)} events/s accepted, non-2xx ${http.non2xx}${http.non2xx ? ` (${failures})` : ''}, errors ${http.errors}; latency ms p50 ${http.latencyMs.p50}, p90 ${http.latencyMs.p90}, p99 ${http.latencyMs.p99}, max ${http.latencyMs.max}`,
    );
  }
  if (max) {
    const found =
      max.rate === null
        ? 'no sustainable rate found'
        : `highest sustainable rate ${n(max.rate)} events/s (achieved ${n(max.achievedRate!)}/s)`;
    lines.push(
      `max: ${found}; first unsustainable ${max.firstUnsustainable?.toLocaleString('en') ?? 'none found'}; ${max.steps.length} steps in ${(max.elapsedMs / 1000).toFixed(1)}s (stopped: ${max.stoppedBy})`,
    );
  }
  lines.push('', 'LATENCY (ms, from intended send time to commit)');
  lines.push(
    renderTable(
      ['AT', 'EVENTS', 'P50', 'P90', 'P99', 'P99.9', 'MAX'],
      latency.map((l) => [
        l.stream,
        String(l.events),
        String(l.p50),
        String(l.p90),
        String(l.p99),
        String(l.p999),
        String(l.max),
      ]),
    ),
  );
  lines.push('', 'PROCESSES');
  lines.push(
    renderTable(
      ['PROCESS', 'PID', 'CPU %', 'RSS MB'],
      processes.map((p) => [p.name, p.pid ? String(p.pid) : '-', String(p.cpuPercent), String(p.rssMb)]),
    ),
  );
  lines.push('', `audit: delivered ${n(audit.delivered)}, lost ${audit.lost}, duplicates ${audit.duplicates}`);
  if (result.comparison) lines.push('', renderComparison(result.comparison));
  if (o.htmlFile) lines.push('', `html report: ${o.htmlFile}`);
  if (peers) lines.push('', ...renderPeers(peers));
  return `${lines.join('\n')}\n`;
}
