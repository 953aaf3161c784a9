import { describe, expect, it } from 'vitest';
import { cgroupSupport, inCgroup, nftCgroup, nodeCgroup, workerCgroup } from '../src/embedded/cgroups.js';
import { tableName } from '../src/chaos/kernel/nft.js';

describe('cgroups of the embedded deployment', () => {
  const hybrid = [
    { dir: '/sys/fs/cgroup', type: 'tmpfs' },
    { dir: '/sys/fs/cgroup/memory', type: 'cgroup' },
    { dir: '/sys/fs/cgroup/unified', type: 'cgroup2' },
  ];

  it('needs root and a cgroup2 mount where nftables looks for cgroups', () => {
    expect(cgroupSupport(1000, hybrid)).toMatchObject({ ok: false, reason: expect.stringMatching(/not root/) });
    expect(cgroupSupport(0, [{ dir: '/mnt/cg2', type: 'cgroup2' }])).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/no cgroup2 hierarchy mounted at or below \/sys\/fs\/cgroup/),
    });
  });

  it("names nftables' path relative to /sys/fs/cgroup and the level below the cgroup2 mount", () => {
    const c = { mount: '/sys/fs/cgroup/unified', path: 'streamctl/abc' };
    expect(nftCgroup(c, nodeCgroup(7001))).toEqual({ path: 'unified/streamctl/abc/nodes/node-7001', level: 4 });
    expect(nftCgroup({ mount: '/sys/fs/cgroup', path: 'streamctl/abc' }, 'nodes')).toEqual({
      path: 'streamctl/abc/nodes',
      level: 3,
    });
    expect(workerCgroup('analyze#2')).toBe('workers/analyze-2');
  });

  it('starts a program through a shell that joins the cgroup first, then becomes the program', () => {
    const c = inCgroup('/sys/fs/cgroup/x', '/usr/bin/redis-server', ['--port', '7001']);
    expect(c.cmd).toBe('/bin/sh');
    expect(c.args).toEqual([
      '-c',
      'echo $$ > "$0/cgroup.procs" && exec "$@"',
      '/sys/fs/cgroup/x',
      '/usr/bin/redis-server',
      '--port',
      '7001',
    ]);
  });

  it("names a fault's nftables table after the fault, in the characters nftables takes", () => {
    expect(tableName('partition-mxc0-123-0')).toBe('streamctl_partition_mxc0_123_0');
  });
});
