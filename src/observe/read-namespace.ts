import type { Redis } from 'ioredis';
import { isDlqKey, namespaceKeys } from '../pipeline/keys.js';
import { parseHeartbeats, type Heartbeat } from '../pipeline/worker/heartbeats.js';
import { countAfter, knownLag, NEAR_END } from '../pipeline/group-lag.js';
import { pairs } from '../redis/info.js';
import { SCAN_COUNT, type NodeProbe } from './probe-nodes.js';
import type { GroupHealth, StreamHealth } from './snapshot.js';

/** Streams beyond this many are not listed (a namespace of a real pipeline has a few hundred). */
const MAX_STREAMS = 2000;

/**
 * Dead letters read per dead-letter stream to tell the stages of its records apart, when the
 * namespace has several. Each record holds the whole batch that failed, so a long stream is
 * sampled (its newest records) rather than read on every refresh of a dashboard.
 */
const DEAD_LETTER_SAMPLE = 50;

/** What the namespace holds, as read from its serving primaries. */
export interface NamespaceRead {
  streams: StreamHealth[];
  groups: GroupHealth[];
  /** Every heartbeat; undefined when no node that answered serves the heartbeat hash. */
  heartbeats: Heartbeat[] | undefined;
  /** Dead letters per stage; `estimated` when some were attributed from a sample. */
  deadLetters: Map<string, { count: number; estimated: boolean }>;
}

type Reply = [Error | null, unknown];

function scanPage(client: Redis, cursor: string, pattern: string): Promise<[string, string[]]> {
  return client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT, 'TYPE', 'stream');
}

/** The stream keys of the namespace on one primary, from the first round's SCAN page on. */
async function streamKeys(p: NodeProbe, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let page = p.scan ?? (await scanPage(p.client!, '0', pattern));
  for (;;) {
    keys.push(...page[1]);
    if (page[0] === '0' || keys.length >= MAX_STREAMS) return keys;
    page = await scanPage(p.client!, page[0], pattern);
  }
}

function replyOf([err, value]: Reply): unknown {
  if (err) throw err;
  return value;
}

/** One stream's row and its groups, from `XINFO STREAM key FULL COUNT 1` read at server time `now`. */
function fromFullInfo(key: string, node: string, reply: unknown, now: number): [StreamHealth, GroupHealth[]] {
  const info = pairs(reply);
  const lastId = (info['last-generated-id'] as string | undefined) ?? null;
  const length = Number(info.length ?? 0);
  const groups = ((info.groups as unknown[] | null) ?? []).map(pairs).map((g): GroupHealth => {
    // COUNT 1: the first entry of the group's pending list, the one XPENDING - + 1 names.
    const oldest = ((g.pending as unknown[][] | null) ?? [])[0];
    return {
      stream: key,
      group: String(g.name),
      // Null here when the entries must be counted: `readNamespace` counts them in a round of its own.
      lag: knownLag({
        lag: g.lag as number | null | undefined,
        lastDeliveredId: String(g['last-delivered-id'] ?? '0-0'),
        lastId,
        length,
      }),
      pending: Number(g['pel-count'] ?? 0),
      lastDeliveredId: String(g['last-delivered-id'] ?? ''),
      oldestPendingIdleMs: oldest ? Math.max(0, now - Number(oldest[2])) : null,
      consumers: ((g.consumers as unknown[] | null) ?? []).map(pairs).map((c) => ({
        name: String(c.name),
        pending: Number(c['pel-count'] ?? 0),
        idleMs: Math.max(0, now - Number(c['seen-time'] ?? now)),
      })),
    };
  });
  const stream: StreamHealth = {
    key,
    node,
    length,
    lastId,
    groups: groups.length,
  };
  return [stream, groups];
}

/**
 * One round per primary: the server's clock, every stream of it with its groups, consumers and
 * oldest pending entry (XINFO STREAM FULL, one command per stream), and on the node that serves it,
 * the heartbeat hash.
 */
async function readPrimary(
  p: NodeProbe,
  keys: string[],
  heartbeatKey: string | undefined,
): Promise<{ streams: StreamHealth[]; groups: GroupHealth[]; heartbeats?: Record<string, string> }> {
  const pipe = p.client!.pipeline().time();
  for (const key of keys) pipe.call('XINFO', 'STREAM', key, 'FULL', 'COUNT', '1');
  if (heartbeatKey) pipe.hgetall(heartbeatKey);
  const replies = ((await pipe.exec()) ?? []) as Reply[];
  const [sec, usec] = replyOf(replies[0]!) as [string, string];
  const now = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  const streams: StreamHealth[] = [];
  const groups: GroupHealth[] = [];
  keys.forEach((key, i) => {
    const [err, reply] = replies[i + 1]!;
    // Deleted since the scan: no longer part of the namespace.
    if (err && /no such key/i.test(err.message)) return;
    const [stream, g] = fromFullInfo(key, p.address, replyOf([err, reply]), now);
    streams.push(stream);
    groups.push(...g);
  });
  if (!heartbeatKey) return { streams, groups };
  return { streams, groups, heartbeats: replyOf(replies[keys.length + 1]!) as Record<string, string> };
}

/** The stage named by each of a dead-letter stream's newest records (at most `DEAD_LETTER_SAMPLE`). */
async function sampleStages(client: Redis, keys: string[]): Promise<string[][]> {
  const pipe = client.pipeline();
  for (const key of keys) pipe.xrevrangeBuffer(key, '+', '-', 'COUNT', DEAD_LETTER_SAMPLE);
  const replies = ((await pipe.exec()) ?? []) as Reply[];
  return replies.map((r) =>
    (replyOf(r) as [Buffer, Buffer[]][]).map(([, fields]) => {
      const i = fields.findIndex((f, j) => j % 2 === 0 && f.toString() === 'stage');
      return i < 0 ? '' : String(fields[i + 1] ?? '');
    }),
  );
}

/**
 * Dead letters per stage. Every stage of a partition writes to the partition's one dead-letter
 * stream, each record naming its stage: with one stage in the namespace the streams' lengths are
 * its count, otherwise the records are read (sampled beyond `DEAD_LETTER_SAMPLE` per stream, the
 * rest attributed in the sample's proportions).
 */
async function countDeadLetters(
  namespace: string,
  streams: StreamHealth[],
  stages: Set<string>,
  clients: Map<string, Redis>,
): Promise<NamespaceRead['deadLetters']> {
  const out: NamespaceRead['deadLetters'] = new Map();
  const add = (stage: string, count: number, estimated: boolean) => {
    const s = out.get(stage) ?? { count: 0, estimated: false };
    s.count += count;
    s.estimated ||= estimated;
    out.set(stage, s);
  };
  const dlqs = streams.filter((s) => isDlqKey(namespace, s.key) && s.length > 0);
  if (dlqs.length === 0) return out;
  if (stages.size === 1) {
    const [only] = stages;
    add(
      only!,
      dlqs.reduce((n, s) => n + s.length, 0),
      false,
    );
    return out;
  }
  const byNode = new Map<string, StreamHealth[]>();
  for (const s of dlqs) byNode.set(s.node, [...(byNode.get(s.node) ?? []), s]);
  const sampled = await Promise.all(
    [...byNode].map(async ([node, list]) => {
      const stagesOf = await sampleStages(
        clients.get(node)!,
        list.map((s) => s.key),
      );
      return list.map((s, i) => [s, stagesOf[i]!] as const);
    }),
  );
  for (const [stream, names] of sampled.flat()) {
    if (names.length === 0) continue;
    const counts = new Map<string, number>();
    for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
    const estimated = names.length < stream.length;
    // Floors of the shares, the remainder to the largest, so the stream's total stays exact.
    const shares = [...counts].map(([stage, c]) => [stage, Math.floor((c * stream.length) / names.length)] as const);
    const largest = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    const left = stream.length - shares.reduce((n, [, c]) => n + c, 0);
    for (const [stage, c] of shares) add(stage, c + (stage === largest ? left : 0), estimated);
  }
  return out;
}

/**
 * Counts the lag of the groups not at the end of their stream, on the node that serves it (one
 * pipeline per node): near the end exactly (`NEAR_END`: Redis's figure may carry a constant error),
 * further behind by Redis's figure, or, where Redis could not tell it (after deletions), by counting.
 */
async function countLags(groups: GroupHealth[], streams: StreamHealth[], clients: Map<string, Redis>) {
  const nodeOf = new Map(streams.map((s) => [s.key, s.node]));
  const behind = groups.filter((g) => g.lag !== 0 && clients.has(nodeOf.get(g.stream) ?? ''));
  const byNode = new Map<string, GroupHealth[]>();
  for (const g of behind) byNode.set(nodeOf.get(g.stream)!, [...(byNode.get(nodeOf.get(g.stream)!) ?? []), g]);
  await Promise.all(
    [...byNode].map(async ([node, list]) => {
      const client = clients.get(node)!;
      const p = client.pipeline();
      for (const g of list) p.xrange(g.stream, `(${g.lastDeliveredId}`, '+', 'COUNT', NEAR_END);
      const pages = (await p.exec()) ?? [];
      await Promise.all(
        list.map(async (g, i) => {
          const [err, page] = pages[i] ?? [null, null];
          const near = !err && Array.isArray(page) && page.length < NEAR_END ? page.length : undefined;
          g.lag = near ?? g.lag ?? (await countAfter(client, g.stream, g.lastDeliveredId));
        }),
      );
    }),
  );
}

/**
 * Reads the namespace from its serving primaries, all at once: the keys (from the first round's
 * SCAN page; a large keyspace takes more pages), then one pipeline per primary with every stream,
 * its groups and consumers, and the heartbeats on `heartbeatsOn`; then, only when the namespace has
 * several stages and dead letters, a sample of the dead letters.
 * @param heartbeatsOn the primary that serves the heartbeat hash; undefined when none answered.
 * @throws the first error a node answered other than a stream deleted meanwhile.
 */
export async function readNamespace(
  primaries: NodeProbe[],
  namespace: string,
  heartbeatsOn: NodeProbe | undefined,
): Promise<NamespaceRead> {
  const pattern = `${namespace}:*`;
  const found = await Promise.all(
    primaries.map(async (p) => (await streamKeys(p, pattern)).map((key) => ({ key, node: p.address }))),
  );
  const listed = found
    .flat()
    .sort((a, b) => a.key.localeCompare(b.key))
    .slice(0, MAX_STREAMS);
  const heartbeatKey = namespaceKeys.workers(namespace);
  const read = await Promise.all(
    primaries.map((p) =>
      readPrimary(
        p,
        listed.filter((s) => s.node === p.address).map((s) => s.key),
        p === heartbeatsOn ? heartbeatKey : undefined,
      ),
    ),
  );
  const streams = read.flatMap((r) => r.streams).sort((a, b) => a.key.localeCompare(b.key));
  const groups = read
    .flatMap((r) => r.groups)
    .sort((a, b) => a.stream.localeCompare(b.stream) || a.group.localeCompare(b.group));
  const hash = read.find((r) => r.heartbeats)?.heartbeats;
  const heartbeats = hash ? parseHeartbeats(hash) : undefined;
  const stages = new Set([...groups.map((g) => g.group), ...(heartbeats ?? []).map((h) => h.stage)]);
  const clients = new Map(primaries.map((p) => [p.address, p.client!]));
  await countLags(groups, streams, clients);
  return { streams, groups, heartbeats, deadLetters: await countDeadLetters(namespace, streams, stages, clients) };
}
