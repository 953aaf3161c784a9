import { describe, expect, it } from 'vitest';
import { DeploymentMetrics } from '../src/observe/deployment-metrics.js';
import type { Snapshot } from '../src/observe/snapshot.js';
import { healthyNodes, node, snapshot } from './helpers/snapshot.js';

/** The value of a sample line `name{labels} value` in the exposition text. */
function sample(text: string, line: string): number | undefined {
  const hit = text.split('\n').find((l) => l.startsWith(`${line} `));
  return hit === undefined ? undefined : Number(hit.slice(line.length + 1));
}

describe('DeploymentMetrics', () => {
  it('counts a replica that became a primary from one scrape to the next as a failover, once', async () => {
    const snaps: (Snapshot | Error)[] = [
      snapshot(),
      // 7000 (primary) went down; its replica 7003 took over.
      snapshot({
        nodes: [
          node(7000, 'primary', { up: false }),
          ...healthyNodes().slice(1, 3),
          node(7003, 'primary'),
          ...healthyNodes().slice(4),
        ],
      }),
      snapshot({
        nodes: [
          node(7000, 'replica'),
          ...healthyNodes().slice(1, 3),
          node(7003, 'primary'),
          ...healthyNodes().slice(4),
        ],
      }),
      new Error('Redis unreachable'),
    ];
    let i = 0;
    const m = new DeploymentMetrics(async () => {
      const s = snaps[i++]!;
      if (s instanceof Error) throw s;
      return s;
    });
    const texts: string[] = [];
    for (let k = 0; k < snaps.length; k++) texts.push(await m.metrics());
    expect(texts.map((t) => sample(t, 'streamctl_failovers_total'))).toEqual([0, 1, 1, 1]);
    expect(texts.map((t) => sample(t, 'streamctl_scrape_ok'))).toEqual([1, 1, 1, 0]);
    expect(sample(texts[1]!, 'streamctl_node_up{node="127.0.0.1:7000"}')).toBe(0);
    expect(sample(texts[2]!, 'streamctl_node_primary{node="127.0.0.1:7000"}')).toBe(0);
    // Unreadable: no stale node samples.
    expect(sample(texts[3]!, 'streamctl_node_up{node="127.0.0.1:7000"}')).toBeUndefined();
  });
});
