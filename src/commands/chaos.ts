import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import type { Io } from '../cli/io.js';
import { connectionOptions, jsonOption, namespaceOption } from '../cli/options.js';
import { embeddedTarget, resolveTarget } from '../cli/target.js';
import { chaosEnv } from '../chaos/chaos-env.js';
import { describeTarget, FAULT_KINDS, type Fault, type FaultKind, type FaultTarget } from '../chaos/fault.js';
import { FAULT_ACTIONS } from '../chaos/faults/index.js';
import { activeFaults } from '../chaos/fault-store.js';
import { healAll, injectFaults, notSeenError } from '../chaos/inject.js';
import { chooseNode, chooseWorkers, replicaOf } from '../chaos/targets.js';
import { durationSchema, formatDuration } from '../duration.js';
import { isPidAlive } from '../embedded/pid.js';
import { resolveHome } from '../embedded/deployment.js';
import { RuntimeError, UsageError } from '../errors.js';
import { redactUrl } from '../redact.js';
import { renderTable } from '../table.js';

const ACTIONS = [...FAULT_KINDS, 'list', 'heal'] as const;

const options = z.object({
  action: z
    .enum(ACTIONS)
    .describe('The fault to inject (see above), or list the active faults, or heal (revert) every one of them'),
  node: z
    .string()
    .min(1)
    .optional()
    .describe('Node faults: the node, as host:port or its port (a primary, for failover: its replica takes over)')
    .meta({ valueName: 'ADDR' }),
  role: z.enum(['primary', 'replica']).optional().describe('Node faults: only nodes of this role'),
  random: z.boolean().default(false).describe('Pick the node or the workers at random (seeded by --seed)'),
  seed: z.coerce
    .number()
    .int()
    .default(1)
    .describe('Seed of --random: the same seed picks the same')
    .meta({ valueName: 'S' }),
  stage: z.string().min(1).optional().describe('Worker faults: only workers of this stage').meta({ valueName: 'NAME' }),
  count: z.coerce
    .number()
    .int()
    .min(1)
    .max(64)
    .default(1)
    .describe('Worker faults: how many workers')
    .meta({ valueName: 'N' }),
  for: durationSchema()
    .optional()
    .describe('Lasting faults (pause-node, client-pause, pause-worker): how long, e.g. 8s (default 10s)')
    .meta({ valueName: 'D' }),
  mode: z.enum(['all', 'write']).default('all').describe('client-pause: pause every command, or only writes'),
  yes: z.boolean().default(false).describe('Confirm a fault against a Redis that streamctl did not start'),
  ...connectionOptions,
  ...namespaceOption,
  ...jsonOption,
});

type Options = z.output<typeof options>;

/** Lasting faults' duration when --for is not given. */
const DEFAULT_FOR_MS = 10_000;

/** The flags each action takes besides the connection, --namespace and --json. */
const FLAGS: Record<(typeof ACTIONS)[number], (keyof Options)[]> = {
  'kill-node': ['node', 'role', 'random', 'seed'],
  'pause-node': ['node', 'role', 'random', 'seed', 'for'],
  'restart-node': ['node', 'role', 'random', 'seed'],
  failover: ['node', 'random', 'seed', 'yes'],
  'client-pause': ['node', 'role', 'random', 'seed', 'for', 'mode', 'yes'],
  'kill-worker': ['stage', 'count', 'random', 'seed'],
  'pause-worker': ['stage', 'count', 'random', 'seed', 'for'],
  list: [],
  heal: [],
};
const FAULT_FLAGS: (keyof Options)[] = ['node', 'role', 'random', 'stage', 'count', 'for', 'yes'];
const DEFAULTS: Partial<Options> = { random: false, count: 1, yes: false };

/** Refuses a flag that the action does not take: it would be silently ignored. */
function checkFlags(opts: Options): void {
  const allowed = FLAGS[opts.action];
  for (const f of FAULT_FLAGS) {
    const given = opts[f] !== undefined && opts[f] !== DEFAULTS[f];
    if (given && !allowed.includes(f))
      throw new UsageError(
        'BAD_OPTION',
        `--${f} does not apply to \`chaos ${opts.action}\``,
        allowed.length ? `\`chaos ${opts.action}\` takes ${allowed.map((a) => `--${a}`).join(', ')}` : `drop --${f}`,
      );
  }
  if (opts.mode === 'write' && opts.action !== 'client-pause')
    throw new UsageError('BAD_OPTION', '--mode applies to `chaos client-pause` only', 'drop --mode');
}

function environment(opts: Options, io: Io) {
  const home = resolveHome(opts.home, io.cwd);
  const embedded = embeddedTarget(opts, io);
  const spec = resolveTarget(opts, io);
  const raw = opts.redis ?? io.env.STREAMCTL_REDIS_URL;
  const urls = raw
    ? raw.split(',').map((u) => redactUrl(u.trim()))
    : spec.endpoints.map((e) => `redis://${e.host}:${e.port}`);
  return chaosEnv({
    home,
    deployment: embedded?.deployment,
    source: spec instanceof Error ? 'none' : spec.source,
    urls,
    namespace: embedded?.deployment.namespace ?? opts.namespace,
    spec,
    redis: io.redis,
    signal: io.signal,
    say: (line) => io.stderr.write(`${line}\n`),
  });
}

type Env = ReturnType<typeof environment>;

/** The faults the options ask for, aimed; nothing is touched yet. */
async function aim(opts: Options, env: Env): Promise<Fault[]> {
  const kind = opts.action as FaultKind;
  const action = FAULT_ACTIONS[kind];
  if (!env.deployment && !action.external)
    throw new UsageError(
      'NOT_HERE',
      `chaos ${kind} acts on the processes of the embedded deployment; ${env.urls.join(',')} (${env.source}) is a Redis streamctl did not start`,
      "drop --redis (and STREAMCTL_REDIS_URL) to aim at `streamctl up`'s deployment, or use `chaos failover` or `chaos client-pause`, which Redis itself offers",
    );
  const id = (i: number) => `${kind}-${Date.now().toString(36)}-${process.pid}-${i}`;
  const durationMs = action.lasting ? (opts.for ?? DEFAULT_FOR_MS) : undefined;
  const fault = (target: FaultTarget, i: number, params: Record<string, unknown> = {}): Fault => ({
    id: id(i),
    kind,
    target,
    params,
    ...(durationMs !== undefined ? { durationMs } : {}),
  });
  if (action.target === 'worker')
    return chooseWorkers(env, { stage: opts.stage, count: opts.count, random: opts.random, seed: opts.seed }).map(
      (t, i) => fault(t, i),
    );
  if (kind === 'failover') {
    const conn = await env.connection();
    if (conn.mode !== 'cluster')
      throw new UsageError(
        'NOT_CLUSTER',
        `chaos failover needs a Redis Cluster; ${env.urls.join(',')} is a single Redis`,
        'run it against a cluster (`streamctl up` starts one by default)',
      );
    const picked = await chooseNode(env, {
      node: opts.node,
      role: opts.node ? undefined : 'replica',
      random: opts.random,
      seed: opts.seed,
    });
    if (picked.role === 'replica') return [fault(picked, 0)];
    const replica = await replicaOf(env, picked.address);
    if (!replica)
      throw new UsageError(
        'NO_REPLICA',
        `${picked.address} is a primary with no replica up: nothing can take over`,
        'pick a replica with --node, or wait until `streamctl health` shows the replica up',
      );
    return [fault(replica, 0, { primary: picked.address })];
  }
  const target = await chooseNode(env, { node: opts.node, role: opts.role, random: opts.random, seed: opts.seed });
  return [fault(target, 0, kind === 'client-pause' ? { mode: opts.mode } : {})];
}

export default defineCommand({
  name: 'chaos',
  description:
    'Inject a fault and heal it: kill, pause or restart a Redis node or a stage worker of the embedded ' +
    "deployment, fail a cluster primary over, or pause a node's clients. Each fault is recorded in the " +
    'state folder until it is reverted, is checked to take effect (exit 1 when it was not seen), and is ' +
    'always reverted: at its end, on failure, on Ctrl-C, and by `chaos heal` after a crash. Exit 2: the ' +
    'fault cannot be applied here (a hint says why). On a Redis streamctl did not start only failover and ' +
    'client-pause are allowed, with --yes. Faults: ' +
    FAULT_KINDS.map((k) => `${k}: ${FAULT_ACTIONS[k].summary}`).join('; ') +
    '.',
  examples: [
    'streamctl chaos kill-node --role primary --random --seed 7',
    'streamctl chaos pause-node --node 7002 --for 8s',
    'streamctl chaos failover --node 127.0.0.1:7001',
    'streamctl chaos client-pause --node 7001 --for 3s --mode write',
    'streamctl chaos kill-worker --stage analyze --count 1',
    'streamctl chaos pause-worker --for 8s',
    'streamctl chaos list',
    'streamctl chaos heal',
  ],
  options,
  positional: 'action',
  async run(opts, io) {
    checkFlags(opts);
    const home = resolveHome(opts.home, io.cwd);
    if (opts.action === 'list') {
      const faults = activeFaults(home).map((f) => ({ ...f, holderAlive: f.by !== process.pid && isPidAlive(f.by) }));
      if (opts.json) io.stdout.write(`${JSON.stringify({ faults }, null, 2)}\n`);
      else if (faults.length === 0) io.stdout.write(`no active fault in ${home}\n`);
      else
        io.stdout.write(
          `${renderTable(
            ['ID', 'KIND', 'TARGET', 'APPLIED', 'UNTIL', 'HELD BY'],
            faults.map((f) => [
              f.id,
              f.kind,
              describeTarget(f.target),
              f.appliedAt,
              f.until ?? '-',
              f.holderAlive ? `pid ${f.by}` : `nobody (pid ${f.by} is gone): \`streamctl chaos heal\``,
            ]),
          )}\n`,
        );
      return 0;
    }
    const env = environment(opts, io);
    try {
      if (opts.action === 'heal') {
        const healed = await healAll(env);
        const failed = healed.filter((h) => h.revertError !== undefined);
        if (opts.json) io.stdout.write(`${JSON.stringify({ healed }, null, 2)}\n`);
        else if (healed.length === 0) io.stdout.write(`no active fault in ${home}\n`);
        else
          for (const h of healed)
            io.stdout.write(
              `${h.fault.kind} ${describeTarget(h.fault.target)}: ${h.reverted !== undefined ? `reverted: ${h.reverted}` : `REVERT FAILED: ${h.revertError}`}\n`,
            );
        if (failed.length)
          throw new RuntimeError(
            'HEAL_FAILED',
            `${failed.length} fault(s) could not be reverted; they stay recorded`,
            'see `streamctl health`, fix what it shows (`streamctl up` repairs the embedded deployment), then `streamctl chaos heal` again',
          );
        return 0;
      }
      const faults = await aim(opts, env);
      const action = FAULT_ACTIONS[opts.action];
      if (!env.deployment && !opts.yes)
        throw new UsageError(
          'CONFIRM_FAULT',
          `this would ${action.summary.replace(/ \(.*\)$/, '')} on ${faults.map((f) => describeTarget(f.target)).join(', ')} of ${env.urls.join(',')}, a Redis that streamctl did not start`,
          'add --yes to go ahead',
        );
      const outcomes = await injectFaults(env, faults);
      if (opts.json) io.stdout.write(`${JSON.stringify({ faults: outcomes }, null, 2)}\n`);
      else
        for (const o of outcomes)
          io.stdout.write(
            `${o.kind} ${describeTarget(o.target)}: ${o.applied}; ${o.seen ? `seen after ${formatDuration(o.seenAfterMs ?? 0)} (${o.evidence})` : 'NOT seen to take effect'}; ${o.reverted !== undefined ? `reverted: ${o.reverted}` : `REVERT FAILED: ${o.revertError}`}\n`,
          );
      const unseen = notSeenError(outcomes);
      if (unseen) throw unseen;
      if (outcomes.some((o) => o.revertError !== undefined))
        throw new RuntimeError(
          'REVERT_FAILED',
          'a fault could not be reverted; it stays recorded',
          'see `streamctl health`, then run `streamctl chaos heal`',
        );
      return io.signal.aborted ? 130 : 0;
    } finally {
      await env.close();
    }
  },
});
