import { execFile } from 'node:child_process';
import { RuntimeError, UsageError } from '../../errors.js';

/**
 * nftables, through the `nft` program: each kernel fault is one table of its own (`inet` family),
 * named after the fault, so that reverting it is one `nft delete table` that leaves every other
 * rule of the machine alone, and a crashed process's fault is found again by its name.
 */

/** The prefix of every table streamctl creates. */
export const TABLE_PREFIX = 'streamctl_';

/** The table of one fault: nftables names take letters, digits and underscores. */
export function tableName(faultId: string): string {
  return `${TABLE_PREFIX}${faultId.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

function nft(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('nft', args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) {
        const why =
          (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'nft is not installed' : stderr.trim() || err.message;
        reject(new Error(why));
      } else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Whether nftables can be used here: `nft` on PATH and allowed to list the ruleset (root). */
export async function nftSupport(): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
  try {
    const version = (await nft(['--version'])).trim();
    await nft(['list', 'tables']);
    return { ok: true, version };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

/** A chain of a fault's table: a base chain on a netfilter hook, its rules one per line. */
export interface NftChain {
  name: string;
  hook: 'input' | 'output';
  rules: string[];
}

/**
 * Creates a table with its chains in one transaction (`nft -f`): all its rules act at once, or none.
 * @throws RuntimeError NFT_FAILED with nft's own message.
 */
export async function createTable(name: string, chains: NftChain[]): Promise<void> {
  const script = [
    `table inet ${name} {`,
    ...chains.flatMap((c) => [
      `  chain ${c.name} {`,
      `    type filter hook ${c.hook} priority filter; policy accept;`,
      ...c.rules.map((r) => `    ${r}`),
      '  }',
    ]),
    '}',
    '',
  ].join('\n');
  try {
    await nft(['-f', '-'], script);
  } catch (err) {
    throw new RuntimeError(
      'NFT_FAILED',
      `nft refused the rules of ${name}: ${(err as Error).message}`,
      'see `streamctl chaos doctor`',
    );
  }
}

/** Deletes a table; true if it was there. */
export async function deleteTable(name: string): Promise<boolean> {
  try {
    await nft(['delete', 'table', 'inet', name]);
    return true;
  } catch (err) {
    if (/No such file or directory/.test((err as Error).message)) return false;
    throw new RuntimeError('NFT_FAILED', `nft could not delete table inet ${name}: ${(err as Error).message}`);
  }
}

/** Deletes a fault's table, in words: what a kernel fault's revert did. */
export async function removeTable(name: string): Promise<string> {
  return (await deleteTable(name)) ? `table inet ${name} deleted` : `table inet ${name} was already gone`;
}

/** The names of the `inet` tables streamctl created that exist now. */
export async function ourTables(): Promise<string[]> {
  const out = await nft(['list', 'tables', 'inet']);
  return out
    .split('\n')
    .map((l) => /^table inet (\S+)/.exec(l.trim())?.[1])
    .filter((n): n is string => !!n && n.startsWith(TABLE_PREFIX));
}

/** Packets and bytes counted by the rules of a table, summed by the rules' comments; undefined if it is gone. */
export async function tableCounters(
  name: string,
): Promise<Record<string, { packets: number; bytes: number }> | undefined> {
  let out: string;
  try {
    out = await nft(['-j', 'list', 'table', 'inet', name]);
  } catch {
    return undefined;
  }
  const sums: Record<string, { packets: number; bytes: number }> = {};
  for (const item of (JSON.parse(out) as { nftables: { rule?: { comment?: string; expr: unknown[] } }[] }).nftables) {
    const rule = item.rule;
    if (!rule?.comment) continue;
    for (const e of rule.expr) {
      const c = (e as { counter?: { packets: number; bytes: number } }).counter;
      if (!c) continue;
      const s = (sums[rule.comment] ??= { packets: 0, bytes: 0 });
      s.packets += c.packets;
      s.bytes += c.bytes;
    }
  }
  return sums;
}

/** The nftables match of the sockets of a cgroup (`nftCgroup`'s path and level). */
export function socketIn(c: { path: string; level: number }): string {
  return `socket cgroupv2 level ${c.level} "${c.path}"`;
}

/** Refuses a kernel fault where nftables cannot be used, with the reason. */
export async function requireNft(kind: string): Promise<void> {
  const s = await nftSupport();
  if (!s.ok)
    throw new UsageError(
      'NO_NFTABLES',
      `chaos ${kind} needs nftables as root: ${s.reason}`,
      'run as root with nftables installed (Debian: `apt-get install nftables`); `streamctl chaos doctor` says what works here',
    );
}
