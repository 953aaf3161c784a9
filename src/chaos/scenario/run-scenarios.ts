import { RuntimeError } from '../../errors.js';
import { collectSnapshot } from '../../observe/collect-snapshot.js';
import { waitFor } from '../../wait.js';
import { settled } from '../settled.js';
import { runScenarioLive, type LiveRunOptions, type ScenarioReport } from './live-run.js';
import type { Scenario } from './scenario.js';

/** How long the deployment gets to be healthy again between two scenarios. */
const BETWEEN_MS = 90_000;

/**
 * Runs scenarios one after another on the running deployment; before each but the first, waits
 * until the deployment has settled and `health` says ok again, so that each starts from a steady
 * state. Stops after the one that Ctrl-C interrupted.
 * @throws RuntimeError NOT_HEALTHY when the deployment does not recover between two scenarios.
 */
export async function runScenarios(
  o: Omit<LiveRunOptions, 'scenario' | 'name'> & {
    scenarios: { name: string; scenario: Scenario }[];
    /** Called as each scenario starts (after the wait for a healthy deployment). */
    onScenario?: (name: string, scenario: Scenario) => void;
    /** Called with each report as soon as its scenario ends. */
    onReport?: (r: ScenarioReport) => void | Promise<void>;
  },
): Promise<ScenarioReport[]> {
  const reports: ScenarioReport[] = [];
  for (const [i, { name, scenario }] of o.scenarios.entries()) {
    if (o.env.signal.aborted) break;
    if (i > 0) {
      o.env.say(`waiting until the deployment is healthy again before ${name}...`);
      await settled(o.env, BETWEEN_MS);
      let status = 'unknown';
      await waitFor(
        async () => ((status = (await collectSnapshot(o.conn, o.topology.keys.ns)).status) === 'ok' ? true : undefined),
        {
          timeoutMs: BETWEEN_MS,
          intervalMs: 500,
          signal: o.env.signal,
          onTimeout: () =>
            new RuntimeError(
              'NOT_HEALTHY',
              `the deployment is ${status}, not ok, ${BETWEEN_MS / 1000}s after ${o.scenarios[i - 1]!.name}`,
              'see `streamctl health`; `streamctl up` repairs the embedded deployment',
            ),
        },
      );
    }
    o.onScenario?.(name, scenario);
    o.env.say(`scenario ${name}: ${scenario.title}`);
    const report = await runScenarioLive({ ...o, scenario, name });
    reports.push(report);
    await o.onReport?.(report);
  }
  return reports;
}
