import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import { UsageError } from '../errors.js';
import { prng } from '../ml/random.js';

/** Reference data of one key, as `enrich` attaches it. */
export interface Reference {
  region: string;
  service: string;
  owner: string;
  tier: string;
}

const REGIONS = ['eu-west-1', 'eu-central-1', 'us-east-1', 'us-west-2', 'ap-south-1'];
const SERVICES = ['checkout', 'search', 'payments', 'auth', 'catalog', 'ingest', 'billing', 'edge'];
const OWNERS = ['team-a', 'team-b', 'team-c', 'team-d'];
const TIERS = ['1', '2', '3'];

/** Seeded reference data for `keys`: the same seed gives the same data. */
export function syntheticReference(keys: string[], seed: number): Map<string, Reference> {
  const rand = prng(seed ^ 0x5eed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  return new Map(
    keys.map((k) => [k, { region: pick(REGIONS), service: pick(SERVICES), owner: pick(OWNERS), tier: pick(TIERS) }]),
  );
}

/**
 * Reads reference data from a file: NDJSON lines `{"key": ..., "region": ..., ...}` or one JSON
 * object `{ "<key>": {...}, ... }`.
 * @throws UsageError naming the file and line of the first malformed record.
 */
export function readReferenceFile(path: string): Map<string, Record<string, unknown>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError('REFERENCE_FILE', `cannot read ${path}: ${(err as Error).message}`, 'check the FILE argument');
  }
  const out = new Map<string, Record<string, unknown>>();
  const trimmed = text.trim();
  if (trimmed.startsWith('{') && !trimmed.includes('\n{')) {
    try {
      for (const [k, v] of Object.entries(JSON.parse(trimmed) as Record<string, Record<string, unknown>>))
        out.set(k, v);
      return out;
    } catch {
      // not one object: read it as NDJSON below
    }
  }
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch (err) {
      throw new UsageError(
        'REFERENCE_FILE',
        `${path}:${i + 1}: not JSON (${(err as Error).message})`,
        'one JSON object per line, with a "key" field',
      );
    }
    if (typeof rec.key !== 'string')
      throw new UsageError(
        'REFERENCE_FILE',
        `${path}:${i + 1}: no string "key" field`,
        'one JSON object per line, with a "key" field',
      );
    const { key, ...rest } = rec;
    out.set(key, rest);
  });
  return out;
}

/** Writes reference records into `<ns>:<hash>` (HSET in chunks). */
export async function writeReference(
  client: Redis | Cluster,
  key: string,
  records: Map<string, unknown>,
): Promise<number> {
  const entries = [...records].map(([k, v]) => [k, JSON.stringify(v)] as const);
  for (let i = 0; i < entries.length; i += 1000) {
    await client.hset(key, Object.fromEntries(entries.slice(i, i + 1000)));
  }
  return entries.length;
}
