/**
 * Toxics: the faults a `FaultProxy` puts on the bytes it forwards, shaped like toxiproxy's so that a
 * scenario written for one reads naturally for the other. A toxic is plain data (it can come from
 * JSON or YAML through `parseToxic`); what each one does to bytes lives in `toxic-chain.ts`, and
 * `reset_peer`, which acts on connections, in `fault-proxy.ts`.
 */
import { z } from 'zod';
import { UsageError } from '../../errors.js';

/** Which way the bytes flow: client -> Redis (`upstream`) or Redis -> client (`downstream`). */
export type Direction = 'upstream' | 'downstream';

/** The directions a toxic applies to. */
export type ToxicDirection = Direction | 'both';

const name = z
  .string()
  .min(1, 'a toxic needs a name')
  .max(100)
  .regex(/^[\w.:-]+$/, 'a toxic name is letters, digits, and _ . : - only');
const direction = z.enum(['upstream', 'downstream', 'both']);
const ms = z.number().finite().nonnegative();

const base = { name, direction: direction.default('both') };

/** Delays each chunk by `ms` ± `jitterMs` (uniform), never reordering the bytes of a direction. */
const latency = z.strictObject({
  ...base,
  type: z.literal('latency'),
  ms,
  jitterMs: ms.default(0),
});

/**
 * Paces the bytes to `kbps` kilobytes (1000 bytes) per second, as toxiproxy's `rate` does (a rate in
 * kilobits would make any test of a real payload take minutes).
 */
const bandwidth = z.strictObject({ ...base, type: z.literal('bandwidth'), kbps: z.number().finite().positive() });

/** Accepts the bytes and drops them: the peer never hears of them, and the connection stays open. */
const blackhole = z.strictObject({ ...base, type: z.literal('blackhole') });

/**
 * Resets the open connections and every new one (the client sees ECONNRESET). A reset ends both
 * directions, so its `direction` changes nothing.
 */
const resetPeer = z.strictObject({ ...base, type: z.literal('reset_peer') });

/** Cuts each chunk into pieces of about `averageSize` bytes, `delayUs` microseconds apart. */
const slicer = z
  .strictObject({
    ...base,
    type: z.literal('slicer'),
    averageSize: z.number().int().positive(),
    sizeVariation: z.number().int().nonnegative().default(0),
    delayUs: z.number().finite().nonnegative().default(0),
  })
  .refine((t) => t.sizeVariation < t.averageSize, {
    message: 'sizeVariation must be smaller than averageSize (a piece has at least one byte)',
    path: ['sizeVariation'],
  });

/**
 * Closes the connection once `bytes` bytes went through in the toxic's direction, counted per
 * connection from when the toxic was added.
 */
const limitData = z.strictObject({ ...base, type: z.literal('limit_data'), bytes: z.number().int().nonnegative() });

/** A toxic as data; `type` tells which one. */
export const toxicSchema = z.discriminatedUnion('type', [latency, bandwidth, blackhole, resetPeer, slicer, limitData]);

/** A toxic, defaults filled in (what `parseToxic` returns and `FaultProxy` keeps). */
export type Toxic = z.output<typeof toxicSchema>;

/** A toxic as it may be written (direction, jitter, variation and delay may be left out). */
export type ToxicInput = z.input<typeof toxicSchema>;

export type ToxicType = Toxic['type'];

export type LatencyToxic = Extract<Toxic, { type: 'latency' }>;
export type BandwidthToxic = Extract<Toxic, { type: 'bandwidth' }>;
export type BlackholeToxic = Extract<Toxic, { type: 'blackhole' }>;
export type ResetPeerToxic = Extract<Toxic, { type: 'reset_peer' }>;
export type SlicerToxic = Extract<Toxic, { type: 'slicer' }>;
export type LimitDataToxic = Extract<Toxic, { type: 'limit_data' }>;

/**
 * Checks a toxic given as data and fills in its defaults.
 * @throws UsageError BAD_TOXIC naming the field at fault and why.
 */
export function parseToxic(raw: unknown): Toxic {
  const r = toxicSchema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const label =
    raw && typeof raw === 'object' && typeof (raw as { name?: unknown }).name === 'string'
      ? `toxic "${(raw as { name: string }).name}"`
      : 'toxic';
  const where = issue.path.length ? issue.path.join('.') : '(top)';
  const why =
    issue.code === 'invalid_type' && /received undefined/.test(issue.message)
      ? `missing (${issue.message.replace(/^Invalid input: /, '').replace(/, received undefined$/, '')})`
      : issue.message;
  throw new UsageError(
    'BAD_TOXIC',
    `${label}: ${where}: ${why}`,
    'a toxic is {name, type, direction?, ...} with type latency, bandwidth, blackhole, reset_peer, slicer or limit_data',
  );
}

/** Whether a toxic acts on the bytes flowing in `dir`. */
export function appliesTo(toxic: Pick<Toxic, 'direction'>, dir: Direction): boolean {
  return toxic.direction === 'both' || toxic.direction === dir;
}
