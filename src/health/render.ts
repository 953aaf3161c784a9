import { Chalk } from 'chalk';
import { formatDuration } from '../duration.js';
import { formatBytes, renderTable } from '../table.js';
import type { Snapshot } from '../observe/snapshot.js';

/** The human-readable health page; colours only when `color` is set (a terminal). */
export function renderHealth(r: Snapshot, color: boolean): string {
  const c = new Chalk({ level: color ? 1 : 0 });
  const statusText = r.status === 'ok' ? c.green('OK') : r.status === 'degraded' ? c.yellow('DEGRADED') : c.red('DOWN');
  // After a failover the old primary is still listed as one, without slots: count those serving.
  const primaries = r.nodes.filter(
    (n) => n.role === 'primary' && n.up && (r.mode === 'standalone' || (n.slots ?? 0) > 0),
  ).length;
  const out: string[] = [];
  out.push(
    `status: ${statusText}  ${r.mode}, ${r.nodes.length} node(s), ${primaries} serving primar${primaries === 1 ? 'y' : 'ies'}  via ${r.target.join(',')}`,
  );
  for (const p of r.problems) out.push(`  ${c.red('problem')}: ${p.message}`);
  for (const w of r.warnings) out.push(`  ${c.yellow('warning')}: ${w.message}`);

  out.push('', 'NODES');
  out.push(
    renderTable(
      [
        'ADDRESS',
        'ROLE',
        'UP',
        'ID',
        'PRIMARY',
        'LINK',
        'LAG',
        'MEMORY',
        'MAXMEM',
        'CLIENTS',
        'EVICTED',
        'SLOTS',
        'FLAGS',
      ],
      r.nodes.map((n) => [
        n.address,
        n.role,
        n.up ? c.green('up') : c.red('down'),
        n.id ? n.id.slice(0, 8) : '-',
        n.primaryAddress ?? '-',
        n.linkStatus ?? '-',
        n.lagBytes === undefined ? '-' : formatBytes(n.lagBytes),
        formatBytes(n.usedMemory),
        n.maxmemory ? formatBytes(n.maxmemory) : n.up ? 'none' : '-',
        n.connectedClients === undefined ? '-' : String(n.connectedClients),
        n.evictedKeys === undefined ? '-' : String(n.evictedKeys),
        n.slots === undefined ? '-' : String(n.slots),
        n.flags.filter((f) => f !== 'master' && f !== 'slave').join(',') || (n.error ?? '-'),
      ]),
    ),
  );
  if (r.cluster && r.slots) {
    out.push(
      '',
      `CLUSTER  state ${r.cluster.state === 'ok' ? c.green('ok') : c.red(r.cluster.state)}  slots ${r.slots.covered}/${r.slots.expected} covered` +
        `  (assigned ${r.slots.assigned}, pfail ${r.slots.pfail}, fail ${r.slots.fail})  known nodes ${r.cluster.knownNodes}  epoch ${r.cluster.currentEpoch}`,
    );
  }
  out.push('', `STREAMS  namespace "${r.namespace}"`);
  if (r.streams.length === 0) out.push('  (none)');
  else
    out.push(
      renderTable(
        ['KEY', 'LENGTH', 'LAST ID', 'GROUPS', 'NODE'],
        r.streams.map((s) => [s.key, String(s.length), s.lastId ?? '-', String(s.groups), s.node]),
      ),
    );
  if (r.groups.length > 0) {
    out.push('', 'CONSUMER GROUPS');
    out.push(
      renderTable(
        ['STREAM', 'GROUP', 'LAG', 'PENDING', 'OLDEST PENDING', 'CONSUMERS'],
        r.groups.map((g) => [
          g.stream,
          g.group,
          g.lag === null ? '?' : String(g.lag),
          String(g.pending),
          g.oldestPendingIdleMs === null ? '-' : formatDuration(g.oldestPendingIdleMs),
          g.consumers.map((k) => `${k.name}(${k.pending} pending, idle ${formatDuration(k.idleMs)})`).join(' ') || '-',
        ]),
      ),
    );
  }
  if (r.stages.length > 0) {
    out.push('', 'STAGES');
    out.push(
      renderTable(
        ['STAGE', 'LIVE WORKERS', 'LAG', 'PENDING'],
        r.stages.map((s) => [s.stage, String(s.liveWorkers), String(s.lag), String(s.pending)]),
      ),
    );
  }
  if (r.workers.length > 0) {
    out.push('', 'WORKERS');
    out.push(
      renderTable(
        ['ID', 'STAGE', 'STATE', 'PID', 'OWNED', 'RECEIVED', 'RATE', 'METRICS'],
        r.workers.map((w) => [
          w.id,
          w.stage,
          w.live ? c.green('live') : c.red(`dead ${formatDuration(w.lastSeenMs)}`),
          String(w.pid),
          String(w.owned),
          w.received.toLocaleString('en'),
          `${w.rate.toLocaleString('en')}/s`,
          w.metricsPort ? `http://127.0.0.1:${w.metricsPort}/metrics` : '-',
        ]),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}
