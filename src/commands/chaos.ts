import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import type { Io } from '../cli/io.js';
import { connectionOptions, jsonFileOption, namespaceOption, pipelineOption } from '../cli/options.js';
import { embeddedStatus, embeddedTarget, resolveTarget } from '../cli/target.js';
import { chaosEnv } from '../chaos/chaos-env.js';
import { describeTarget, FAULT_KINDS, type FaultKind } from '../chaos/fault.js';
import { FAULT_ACTIONS } from '../chaos/faults/index.js';
import { activeFaults } from '../chaos/fault-store.js';
import { healAll, injectFaults, notSeenError } from '../chaos/inject.js';
import { aimFault, DEFAULT_FOR_MS } from '../chaos/aim.js';
import { chaosDoctor } from '../chaos/doctor.js';
import { builtinScenarioFile, builtinScenarios } from '../chaos/scenario/builtin.js';
import {
  checkScenarioTarget,
  hasFaultProxy,
  kernelUnavailable,
  needsFaultProxy,
  needsKernel,
} from '../chaos/scenario/live-run.js';
import { renderScenarioHtml } from '../chaos/scenario/report-html.js';
import { renderResilienceTable, renderScenarioReport } from '../chaos/scenario/report-text.js';
import { runScenarios } from '../chaos/scenario/run-scenarios.js';
import { VERDICT_EXIT } from '../chaos/scenario/runner.js';
import { loadScenario, type Scenario } from '../chaos/scenario/scenario.js';
import { awaitWorkers } from '../bench/await-workers.js';
import { loadPipeline } from '../pipeline/definition.js';
import { withScripts } from '../pipeline/scripts/scripts.js';
import { ensureTopology } from '../pipeline/topology.js';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { durationSchema, formatDuration } from '../duration.js';
import { isPidAlive } from '../pid.js';
import { resolveHome } from '../embedded/deployment.js';
import { RuntimeError, StreamctlError, UsageError } from '../errors.js';
import { redact, redactUrl } from '../redact.js';
import { renderTable } from '../table.js';
import { topSampler } from '../observe/top-sampler.js';
import { canRedraw } from '../ui/live.js';
import { startLiveRun, type LiveRun } from '../ui/live-run.js';
import { countFigures } from '../ui/run-status.js';
import { describeGate } from '../chaos/scenario/gates.js';

const ACTIONS = [...FAULT_KINDS, 'run', 'list', 'heal', 'doctor'] as const;

const options = z.object({
  action: z
    .enum(ACTIONS)
    .describe(
      'The fault to inject (see above); run a scenario (a fault under load, with gates and a report); list the ' +
        'active faults; heal (revert) every one of them; or doctor: which faults work here, and why not',
    ),
  file: z
    .string()
    .min(1)
    .optional()
    .describe('chaos run: the scenario file (YAML; see the README for its format)')
    .meta({ valueName: 'FILE' }),
  scenario: z
    .string()
    .min(1)
    .optional()
    .describe(
      'chaos run: a built-in scenario by name (worker-crash, worker-stall, replica-crash, client-pause, ' +
        'manual-failover, primary-pause, primary-crash, rolling-restart, slow-primary, client-blackhole, ' +
        'lossy-network, isolated-primary), or all of them for a resilience table (those a deployment cannot run skipped)',
    )
    .meta({ valueName: 'NAME' }),
  html: z
    .string()
    .optional()
    .describe('chaos run: also write the report as a self-contained HTML page (one file per scenario with all)')
    .meta({ valueName: 'FILE' }),
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
  stage: z
    .string()
    .min(1)
    .optional()
    .describe("Worker faults: only workers of this stage; drop, reject, loss: only the traffic of this stage's workers")
    .meta({ valueName: 'NAME' }),
  count: z.coerce
    .number()
    .int()
    .min(1)
    .max(64)
    .default(1)
    .describe('Worker faults, and drop, reject, loss with --stage: how many workers')
    .meta({ valueName: 'N' }),
  for: durationSchema()
    .optional()
    .describe(
      `Lasting faults (pause-node, client-pause, pause-worker): how long, e.g. 8s (default ${DEFAULT_FOR_MS / 1000}s)`,
    )
    .meta({ valueName: 'D' }),
  mode: z.enum(['all', 'write']).default('all').describe('client-pause: pause every command, or only writes'),
  ms: z.coerce
    .number()
    .min(0)
    .optional()
    .describe('latency: milliseconds added each way (default 50)')
    .meta({ valueName: 'MS' }),
  jitter: z.coerce
    .number()
    .min(0)
    .optional()
    .describe('latency: up to this many ms more or less, at random (bytes are never reordered)')
    .meta({ valueName: 'MS' }),
  kbps: z.coerce
    .number()
    .positive()
    .optional()
    .describe('bandwidth: kilobytes per second (default 100)')
    .meta({ valueName: 'KB/S' }),
  percent: z.coerce
    .number()
    .positive()
    .max(100)
    .optional()
    .describe('loss: the share of packets dropped at random, in percent (default 5)')
    .meta({ valueName: 'P' }),
  isolate: z
    .string()
    .min(1)
    .optional()
    .describe('partition: the node cut off from the others, as host:port or its port (same as --node)')
    .meta({ valueName: 'ADDR' }),
  durable: z
    .boolean()
    .default(false)
    .describe("chaos run: the load's appends WAIT for a replica (`produce --durable`), whatever the scenario says"),
  direction: z
    .enum(['upstream', 'downstream', 'both'])
    .optional()
    .describe('Network faults: client -> Redis (upstream), Redis -> client (downstream), or both (default)'),
  yes: z.boolean().default(false).describe('Confirm a fault against a Redis that streamctl did not start'),
  ...connectionOptions,
  ...namespaceOption,
  ...pipelineOption,
  ...jsonFileOption,
});

type Options = z.output<typeof options>;

/** The flags each action takes besides the connection, --namespace and --json. */
const FLAGS: Record<(typeof ACTIONS)[number], (keyof Options)[]> = {
  'kill-node': ['node', 'role', 'random', 'seed'],
  'pause-node': ['node', 'role', 'random', 'seed', 'for'],
  'restart-node': ['node', 'role', 'random', 'seed'],
  failover: ['node', 'random', 'seed', 'yes'],
  'client-pause': ['node', 'role', 'random', 'seed', 'for', 'mode', 'yes'],
  'kill-worker': ['stage', 'count', 'random', 'seed'],
  'pause-worker': ['stage', 'count', 'random', 'seed', 'for'],
  latency: ['node', 'role', 'random', 'seed', 'for', 'ms', 'jitter', 'direction'],
  bandwidth: ['node', 'role', 'random', 'seed', 'for', 'kbps', 'direction'],
  blackhole: ['node', 'role', 'random', 'seed', 'for', 'direction'],
  reset: ['node', 'role', 'random', 'seed', 'for'],
  drop: ['node', 'role', 'random', 'seed', 'for', 'stage', 'count'],
  reject: ['node', 'role', 'random', 'seed', 'for', 'stage', 'count'],
  loss: ['node', 'role', 'random', 'seed', 'for', 'stage', 'count', 'percent'],
  partition: ['node', 'isolate', 'role', 'random', 'seed', 'for'],
  run: ['file', 'scenario', 'html', 'yes', 'durable'],
  list: [],
  heal: [],
  doctor: [],
};
const FAULT_FLAGS: (keyof Options)[] = [
  'ms',
  'jitter',
  'kbps',
  'direction',
  'percent',
  'isolate',
  'durable',
  'node',
  'role',
  'random',
  'stage',
  'count',
  'for',
  'yes',
  'file',
  'scenario',
  'html',
];
const DEFAULTS: Partial<Options> = { random: false, count: 1, yes: false, durable: false };

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

function environment(opts: Options, io: Io, say = (line: string) => io.stderr.write(`${line}\n`)) {
  const home = resolveHome(opts.home, io.cwd);
  const embedded = embeddedTarget(opts, io);
  let spec: ReturnType<typeof resolveTarget> | Error;
  try {
    spec = resolveTarget(opts, io);
  } catch (err) {
    // Healing needs no Redis for a deployment that is down: its faults went with it.
    if (opts.action === 'heal') spec = err as Error;
    // A fault with nothing to act on cannot be applied here: exit 2, as every such fault.
    else if (err instanceof StreamctlError && err.code === 'NO_REDIS')
      throw new UsageError(err.code, err.message, `${err.hint}; \`streamctl chaos doctor\` lists what works here`);
    else throw err;
  }
  const raw = opts.redis ?? io.env.STREAMCTL_REDIS_URL;
  const urls = raw
    ? raw.split(',').map((u) => redactUrl(u.trim()))
    : spec instanceof Error
      ? []
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
    say,
  });
}

/** Writes a JSON document to stdout (`--json` alone) or to the file `--json FILE` names. */
function writeJson(to: string, doc: unknown, io: Io): void {
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  if (to === '-') return io.stdout.write(text);
  const file = resolve(io.cwd, to);
  try {
    writeFileSync(file, text);
  } catch (err) {
    throw new UsageError(
      'BAD_JSON_FILE',
      `--json: cannot write ${file}: ${(err as Error).message}`,
      'give --json a writable file',
    );
  }
}

/** `chaos run`: scenarios on the running deployment; the exit code is the worst verdict's. */
async function runCommand(opts: Options, io: Io): Promise<number> {
  if ((opts.file === undefined) === (opts.scenario === undefined))
    throw new UsageError(
      'NO_SCENARIO',
      opts.file ? 'give a scenario file or --scenario, not both' : 'chaos run needs a scenario',
      'give a file (`streamctl chaos run FILE`) or a built-in one (`--scenario primary-crash`, or `--scenario all`)',
    );
  const files = opts.file
    ? [{ name: opts.file, file: resolve(io.cwd, opts.file) }]
    : (opts.scenario === 'all' ? builtinScenarios() : [opts.scenario!]).map((name) => ({
        name,
        file: builtinScenarioFile(name),
      }));
  // Every file is checked before anything starts: a bad one is exit 2, not a run of minutes first.
  let scenarios = files.map((f) => ({ name: f.name, scenario: loadScenario(f.file) }));
  const html = opts.html ? resolve(io.cwd, opts.html) : undefined;
  if (html && !existsSync(dirname(html)))
    throw new UsageError(
      'BAD_HTML_FILE',
      `--html: the folder ${dirname(html)} does not exist`,
      'give --html a file in an existing folder',
    );
  const { definition } = loadPipeline(opts.pipeline, io.cwd);
  // On a terminal each scenario draws its live screen on stderr, its lines in it; off one, plain lines.
  let live: LiveRun | undefined;
  const env = environment(opts, io, (line) => (live ? live.say(redact(line)) : io.stderr.write(`${line}\n`)));
  try {
    if (opts.scenario === 'all') {
      const kernel = await kernelUnavailable(env);
      const skip = (why: string | undefined, needs: (s: Scenario) => boolean) => {
        if (!why) return;
        const skipped = scenarios.filter((x) => needs(x.scenario));
        scenarios = scenarios.filter((x) => !needs(x.scenario));
        if (skipped.length) env.say(`skipping ${skipped.map((x) => x.name).join(', ')}: ${why}`);
      };
      skip(hasFaultProxy(env) ? undefined : 'they need `streamctl up --fault-proxy`', needsFaultProxy);
      skip(kernel, needsKernel);
    }
    if (opts.durable) for (const x of scenarios) x.scenario.load.durable = true;
    const kernel = scenarios.filter((x) => needsKernel(x.scenario));
    const noKernel = kernel.length ? await kernelUnavailable(env) : undefined;
    if (noKernel)
      throw new UsageError(
        'NO_KERNEL_FAULTS',
        `${kernel.map((x) => x.name).join(', ')}: ${noKernel}`,
        'run as root with nftables installed (Debian: `apt-get install nftables`); `streamctl chaos doctor` says what is missing',
      );
    for (const { scenario } of scenarios) checkScenarioTarget(env, scenario, opts.yes);
    const conn = await env.connection();
    const client = withScripts(conn.client());
    const topology = await ensureTopology(client, env.namespace, definition.stages, {
      partitions: definition.partitions,
    });
    await awaitWorkers(
      client,
      env.namespace,
      topology.stages.map((st) => st.name),
      env.say,
      io.signal,
    );
    const sample = topSampler(conn, env.namespace, () => embeddedStatus(opts, io));
    const reports = await runScenarios({
      env,
      conn,
      client,
      topology,
      yes: opts.yes,
      scenarios,
      onScenario(name, scenario) {
        if (!canRedraw(io.stderr)) return;
        live = startLiveRun({
          stream: io.stderr.stream,
          title: `chaos run ${name}: ${scenario.title}`,
          sample,
          intervalMs: 1000,
          color: !io.env.NO_COLOR,
          nodes: true,
        });
        live.update({ plannedMs: scenario.load.duration });
      },
      onProgress: (p) =>
        live?.update({
          phase: p.phase,
          figures: [
            ...countFigures([
              ['backlog', p.sample?.lag],
              ['dead letters', p.sample?.deadLetters],
            ]),
            ...(p.sample
              ? ([
                  ['health', p.sample.health],
                  ['last commit', `${formatDuration(p.sample.stallMs)} ago`],
                ] as [string, string][])
              : []),
          ],
          gates: { held: p.gates.held, failed: p.gates.failed, last: p.gates.last && describeGate(p.gates.last) },
        }),
      async onReport(r) {
        await live?.stop();
        live = undefined;
        if (html) {
          const file =
            scenarios.length > 1 ? html.replace(/(\.html?)?$/, (ext) => `-${r.name}${ext || '.html'}`) : html;
          writeFileSync(file, renderScenarioHtml(r, { generatedAt: new Date().toISOString() }));
          env.say(`report: ${file}`);
        }
        if (opts.json !== '-') io.stdout.write(renderScenarioReport(r));
      },
    });
    if (reports.length > 1 && opts.json !== '-') io.stdout.write(`\nRESILIENCE\n${renderResilienceTable(reports)}`);
    if (opts.json) writeJson(opts.json, reports.length === 1 && opts.file ? reports[0] : { scenarios: reports }, io);
    return Math.max(0, ...reports.map((r) => VERDICT_EXIT[r.verdict]));
  } finally {
    await live?.stop();
    await env.close();
  }
}

export default defineCommand({
  name: 'chaos',
  description:
    'Inject a fault and heal it: kill, pause or restart a Redis node or a stage worker of the embedded ' +
    "deployment, fail a cluster primary over, pause a node's clients, slow or cut a node's network through its " +
    'fault proxy (up --fault-proxy), or, as root with nftables, drop, reset or lose its packets in the kernel and ' +
    'partition it from the other nodes. Each fault is recorded in the ' +
    'state folder until it is reverted, is checked to take effect (exit 1 when it was not seen), and is ' +
    'always reverted: at its end, on failure, on Ctrl-C, and by `chaos heal` after a crash. Exit 2: the ' +
    'fault cannot be applied here (a hint says why). On a Redis streamctl did not start only failover and ' +
    'client-pause are allowed, with --yes. `chaos run FILE` (or --scenario NAME, or all) runs a scenario: ' +
    'a load, faults at their times, gates while it runs and after, a verdict (exit 0 passed, 1 deviated, ' +
    '2 invalid, 3 aborted) and a report on the data; on a terminal it draws its progress live on stderr ' +
    '(phase, gates so far, stages, nodes, latency), off one it writes plain lines. Faults: ' +
    FAULT_KINDS.map((k) => `${k}: ${FAULT_ACTIONS[k].summary}`).join('; ') +
    '.',
  examples: [
    'streamctl chaos kill-node --role primary --random --seed 7',
    'streamctl chaos pause-node --node 7002 --for 8s',
    'streamctl chaos failover --node 127.0.0.1:7001',
    'streamctl chaos client-pause --node 7001 --for 3s --mode write',
    'streamctl chaos kill-worker --stage analyze --count 1',
    'streamctl chaos pause-worker --for 8s',
    'streamctl chaos latency --node 7001 --ms 50 --jitter 10 --for 30s   # needs up --fault-proxy',
    'streamctl chaos blackhole --role primary --random --for 10s',
    'streamctl chaos loss --role primary --random --percent 5 --for 30s   # kernel faults: root and nftables',
    'streamctl chaos drop --node 7001 --stage analyze --for 10s',
    'streamctl chaos partition --isolate 127.0.0.1:7001 --for 20s',
    'streamctl chaos run --scenario primary-crash --html primary-crash.html',
    'streamctl chaos run --scenario isolated-primary --durable',
    'streamctl chaos run my-experiment.yaml --json report.json',
    'streamctl chaos run --scenario all',
    'streamctl chaos list',
    'streamctl chaos heal',
    'streamctl chaos doctor',
  ],
  options,
  positional: 'action',
  operand: 'file',
  async run(opts, io) {
    checkFlags(opts);
    if (opts.action === 'run') return runCommand(opts, io);
    if (opts.action === 'doctor') {
      const report = await chaosDoctor(resolveHome(opts.home, io.cwd));
      if (opts.json) writeJson(opts.json, report, io);
      else
        io.stdout.write(
          `uid ${report.uid ?? '?'}${report.root ? ' (root)' : ''}, state folder ${report.home}\n${renderTable(
            ['FAULT', 'WORKS HERE', 'WHY'],
            report.rows.map((r) => [r.kind, r.works ? 'yes' : 'no', r.why]),
          )}\n`,
        );
      return 0;
    }
    const home = resolveHome(opts.home, io.cwd);
    if (opts.action === 'list') {
      const faults = activeFaults(home).map((f) => ({ ...f, holderAlive: f.by !== process.pid && isPidAlive(f.by) }));
      if (opts.json) writeJson(opts.json, { faults }, io);
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
        if (opts.json) writeJson(opts.json, { healed }, io);
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
      const kind = opts.action as FaultKind;
      const faults = await aimFault(env, { ...opts, kind, node: opts.isolate ?? opts.node });
      const action = FAULT_ACTIONS[kind];
      if (!env.deployment && !opts.yes)
        throw new UsageError(
          'CONFIRM_FAULT',
          `this would ${action.summary.replace(/ \(.*\)$/, '')} on ${faults.map((f) => describeTarget(f.target)).join(', ')} of ${env.urls.join(',')}, a Redis that streamctl did not start`,
          'add --yes to go ahead',
        );
      const outcomes = await injectFaults(env, faults);
      if (opts.json) writeJson(opts.json, { faults: outcomes }, io);
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
