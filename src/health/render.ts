import { Chalk } from 'chalk';
import { formatDuration } from '../duration.js';
import { formatBytes, renderTable } from '../table.js';
import type { DeploymentStatus, Snapshot } from '../observe/snapshot.js';

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
    `status: ${statusText}  ${r.mode}, ${r.nodes.length} node(s), ${primaries} serving primar${primaries === 1 ? 'y' : 'ies'}  via ${r.target[0]}${r.target.length > 1 ? ` and ${r.target.length - 1} more` : ''}`,
  );
  for (const p of r.problems) out.push(`  ${c.red('problem')}: ${p.message}`);
  for (const w of r.warnings) out.push(`  ${c.yellow('warning')}: ${w.message}`);

  out.push('', 'NODES');
  // PID and RESTARTS come from the embedded deployment's supervisor; without one they are left out.
  const supervised = r.nodes.some((n) => n.pid !== undefined || n.restarts !== undefined);
  out.push(
    renderTable(
      [
        'ADDRESS',
        'ROLE',
        'UP',
        ...(supervised ? ['PID', 'RESTARTS'] : []),
        'PRIMARY',
        'LAG',
        'MEMORY',
        'CLIENTS',
        'SLOTS',
      ],
      r.nodes.map((n) => [
        n.address,
        n.role,
        n.up ? c.green('up') : c.red('down'),
        ...(supervised
          ? [n.pid === undefined ? '-' : String(n.pid), n.restarts === undefined ? '-' : String(n.restarts)]
          : []),
        n.primaryAddress ?? '-',
        n.linkStatus === 'down' ? c.red('link down') : n.lagBytes === undefined ? '-' : formatBytes(n.lagBytes),
        n.usedMemory === undefined
          ? '-'
          : `${formatBytes(n.usedMemory)}${n.maxmemory ? ` of ${formatBytes(n.maxmemory)}` : ''}`,
        n.connectedClients === undefined ? '-' : String(n.connectedClients),
        n.slots === undefined ? '-' : String(n.slots),
      ]),
    ),
  );
  // What does not fit a column: the cluster's flags, why a node is down, how it changed.
  for (const n of r.nodes) {
    const flags = n.flags.filter((f) => f !== 'master' && f !== 'slave').join(',');
    const notes = [flags, n.error, n.change && c.yellow(n.change)].filter(Boolean);
    if (notes.length) out.push(`  ${n.address}: ${notes.join('; ')}`);
  }
  if (r.cluster && r.slots) {
    const state = r.cluster.state === 'ok' ? c.green('ok') : c.red(r.cluster.state);
    out.push(
      '',
      `CLUSTER  state ${state}  known nodes ${r.cluster.knownNodes}  epoch ${r.cluster.currentEpoch}`,
      `  slots ${r.slots.covered}/${r.slots.expected} covered (assigned ${r.slots.assigned}, pfail ${r.slots.pfail}, fail ${r.slots.fail})`,
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
    const configured = r.stages.some((s) => s.configuredWorkers !== undefined);
    const restarts = r.stages.some((s) => s.restarts !== undefined);
    out.push(
      renderTable(
        [
          'STAGE',
          configured ? 'LIVE/CONFIGURED' : 'LIVE WORKERS',
          'LAG',
          'PENDING',
          'DEAD LETTERS',
          ...(restarts ? ['RESTARTS'] : []),
        ],
        r.stages.map((s) => {
          const staffed = s.configuredWorkers === undefined || s.liveWorkers >= s.configuredWorkers;
          const live = `${s.liveWorkers}${s.configuredWorkers === undefined ? '' : `/${s.configuredWorkers}`}`;
          return [
            s.stage,
            staffed ? live : c.red(live),
            String(s.lag),
            String(s.pending),
            s.deadLetters === undefined ? '-' : `${s.deadLettersEstimated ? '~' : ''}${s.deadLetters}`,
            ...(restarts ? [s.restarts === undefined ? '-' : String(s.restarts)] : []),
          ];
        }),
      ),
    );
  }
  if (r.workers.length > 0) {
    out.push('', 'WORKERS');
    const notDurable = r.workers.some((w) => w.notDurable);
    out.push(
      renderTable(
        ['ID', 'STAGE', 'STATE', 'PID', 'OWNED', 'RECEIVED', 'RATE', ...(notDurable ? ['NOT DURABLE'] : []), 'METRICS'],
        r.workers.map((w) => [
          w.id,
          w.stage,
          w.live ? c.green('live') : c.red(`dead ${formatDuration(w.lastSeenMs)}`),
          String(w.pid),
          // A dead worker's last figures are not current: none is shown.
          w.live ? String(w.owned) : '-',
          w.received.toLocaleString('en'),
          w.live ? `${w.rate.toLocaleString('en')}/s` : '-',
          ...(notDurable ? [w.notDurable ? c.yellow(w.notDurable.toLocaleString('en')) : '0'] : []),
          w.metricsPort ? `http://127.0.0.1:${w.metricsPort}/metrics` : '-',
        ]),
      ),
    );
  }
  if (r.deployment) out.push('', ...renderDeployment(r.deployment, c));
  return `${out.join('\n')}\n`;
}

/** Events shown: the latest few, enough to see what just happened to the deployment. */
const EVENTS_SHOWN = 5;

/** The supervisor, the processes that are not running, and the latest events. */
function renderDeployment(d: DeploymentStatus, c: InstanceType<typeof Chalk>): string[] {
  const out = [`DEPLOYMENT  ${d.home}`];
  const s = d.supervisor;
  out.push(
    s
      ? `  supervisor pid ${s.pid} ${s.alive ? c.green('running') : c.red('gone')}, restart ${s.restart}` +
          (s.control ? `, control ${s.control}` : '')
      : '  supervisor: none recorded',
  );
  const idle = d.processes.filter((p) => p.state !== 'running');
  if (idle.length)
    out.push(`  not running: ${idle.map((p) => `${p.name} (${p.state}, ${p.restarts} restarts)`).join(', ')}`);
  const events = d.events.slice(-EVENTS_SHOWN);
  if (events.length)
    out.push(
      renderTable(
        ['TIME (UTC)', 'EVENT', 'PROCESS', 'REASON'],
        events.map((e) => [e.time.replace('T', ' ').slice(0, 19), e.kind, e.process, e.reason ?? '-']),
      ),
    );
  return out;
}
