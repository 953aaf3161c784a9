import { createHash } from 'node:crypto';
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from '../wait.js';

/**
 * Each process of the embedded deployment in a cgroup (v2) of its own, when streamctl runs as root:
 * the kernel then knows which process owns a socket, so that nftables rules can single out one
 * node's or one worker's traffic on loopback, in both directions (`socket cgroupv2`). A socket keeps
 * the cgroup it was opened in, so a process must be in its cgroup before it opens any: it is started
 * through a shell that moves itself and then execs the program (the pid stays the same).
 */

/** Where nftables looks up cgroup paths: a cgroup2 hierarchy must be mounted at or below it. */
const NFT_CGROUP_ROOT = '/sys/fs/cgroup';

/** The cgroups of one deployment: `<mount>/<path>/nodes/node-<port>` and `<mount>/<path>/workers/<slot>`. */
export interface DeploymentCgroups {
  /** The cgroup2 mount point, e.g. `/sys/fs/cgroup` or `/sys/fs/cgroup/unified` (a hybrid layout). */
  mount: string;
  /** The deployment's cgroup below the mount, `streamctl/<key>`. */
  path: string;
}

/** Whether cgroups can be used here: the cgroup2 mount to use, or why not. */
export function cgroupSupport(
  uid = process.getuid?.() ?? -1,
  mounts = readMounts(),
): { ok: true; mount: string } | { ok: false; reason: string } {
  if (uid !== 0) return { ok: false, reason: 'not root (moving a process into a cgroup needs root)' };
  const mount = mounts
    .filter((m) => m.type === 'cgroup2')
    .map((m) => m.dir)
    .find((d) => d === NFT_CGROUP_ROOT || d.startsWith(`${NFT_CGROUP_ROOT}/`));
  if (!mount)
    return { ok: false, reason: `no cgroup2 hierarchy mounted at or below ${NFT_CGROUP_ROOT} (see /proc/mounts)` };
  try {
    accessSync(mount, constants.W_OK);
  } catch {
    return { ok: false, reason: `${mount} is not writable` };
  }
  return { ok: true, mount };
}

function readMounts(): { dir: string; type: string }[] {
  try {
    return readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f.length > 2)
      .map((f) => ({ dir: f[1]!, type: f[2]! }));
  } catch {
    return [];
  }
}

/** The cgroups a deployment in `home` gets, or undefined when cgroups cannot be used here. */
export function planCgroups(home: string): DeploymentCgroups | undefined {
  const probe = cgroupSupport();
  if (!probe.ok) return undefined;
  const key = createHash('sha256').update(home).digest('hex').slice(0, 12);
  return { mount: probe.mount, path: `streamctl/${key}` };
}

/** A node's cgroup, relative to the deployment's. */
export function nodeCgroup(port: number): string {
  return `nodes/node-${port}`;
}

/** A worker slot's cgroup (`stage#n`), relative to the deployment's: a restarted worker joins it again. */
export function workerCgroup(slot: string): string {
  return `workers/${slot.replace(/[^A-Za-z0-9_.-]/g, '-')}`;
}

/** The absolute folder of a cgroup of the deployment, created if missing. */
export function ensureCgroup(c: DeploymentCgroups, sub: string): string {
  const dir = join(c.mount, c.path, sub);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * The command that starts `cmd args` inside the cgroup folder `dir`: a shell writes its own pid to
 * the cgroup, then becomes the program.
 */
export function inCgroup(dir: string, cmd: string, args: string[]): { cmd: string; args: string[] } {
  return { cmd: '/bin/sh', args: ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, cmd, ...args] };
}

/** The path nftables takes for a cgroup of the deployment (relative to `/sys/fs/cgroup`), and its level. */
export function nftCgroup(c: DeploymentCgroups, sub?: string): { path: string; level: number } {
  const below = [c.path, sub].filter(Boolean).join('/');
  const rel = [c.mount.slice(NFT_CGROUP_ROOT.length).replace(/^\//, ''), below].filter(Boolean).join('/');
  return { path: rel, level: below.split('/').length };
}

/**
 * Removes the deployment's cgroups once their processes are gone. A process that was just seen to
 * exit may still be leaving its cgroup (rmdir says EBUSY): each folder is tried again for a moment;
 * one still in use after that (a process that outlived `down`) stays.
 */
export async function removeCgroups(c: DeploymentCgroups, graceMs = 2000): Promise<void> {
  const deadline = Date.now() + graceMs;
  const remove = async (dir: string): Promise<void> => {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir).filter((n) => statSync(join(dir, n)).isDirectory());
    } catch {
      return;
    }
    for (const e of entries) await remove(join(dir, e));
    for (;;) {
      try {
        rmdirSync(dir);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() > deadline) return;
        await sleep(25);
      }
    }
  };
  await remove(join(c.mount, c.path));
  try {
    rmdirSync(join(c.mount, 'streamctl'));
  } catch {
    // Other deployments still have theirs.
  }
}
