import { z } from 'zod';
import type { DeploymentStatus } from '../observe/snapshot.js';

/** The version of the control requests; a request of another version is refused, not guessed at. */
export const CONTROL_VERSION = 1;

const version = z.literal(CONTROL_VERSION);

/**
 * What the supervisor's control channel accepts: plain data, one object a request, with a version,
 * so that a later streamctl (chaos, scaling, the fault proxy) and this one agree or refuse clearly.
 * A process is named as in `health`: a node by `host:port` (or its port), a worker slot by `stage#n`.
 */
export const controlRequest = z.discriminatedUnion('kind', [
  z.strictObject({ v: version, kind: z.literal('status') }),
  z.strictObject({ v: version, kind: z.literal('restart'), process: z.string().min(1) }),
  z.strictObject({ v: version, kind: z.literal('ensure'), process: z.string().min(1) }),
  z.strictObject({ v: version, kind: z.literal('scale'), stage: z.string().min(1), workers: z.int().min(0).max(64) }),
  z.strictObject({ v: version, kind: z.literal('repair') }),
  z.strictObject({
    v: version,
    kind: z.literal('toxic'),
    node: z.string().min(1),
    add: z.unknown().optional(),
    remove: z.string().min(1).optional(),
  }),
  z.strictObject({ v: version, kind: z.literal('proxies') }),
  z.strictObject({ v: version, kind: z.literal('stop'), keepData: z.boolean() }),
]);

export type ControlRequest = z.infer<typeof controlRequest>;

/** What a restart, scale or repair did: the processes started and stopped, by name. */
export interface ControlAction {
  started: string[];
  stopped: string[];
}

/** What an `ensure` found: the process runs (`started` when nothing else would have started it). */
export interface ControlEnsured {
  process: string;
  pid: number;
  started: boolean;
}

/** A fault proxy as the supervisor runs it: the node behind it, its port, its toxics and counters. */
export interface ControlProxy {
  node: string;
  port: number;
  toxics: unknown[];
  stats: unknown;
}

/** The answer of each kind of request. */
export interface ControlResults {
  status: DeploymentStatus;
  restart: ControlAction;
  ensure: ControlEnsured;
  scale: ControlAction;
  repair: ControlAction;
  toxic: ControlProxy;
  proxies: ControlProxy[];
  /** The ports of the redis-server processes that were running. */
  stop: { stopped: number[] };
}

/** The body of every answer: the result, or an error with a stable code. */
export type ControlResponse<K extends ControlRequest['kind'] = ControlRequest['kind']> =
  { ok: true; result: ControlResults[K] } | { ok: false; error: { code: string; message: string; hint?: string } };

/** `<home>/control.json` (mode 0600): where the supervisor listens and the token a request must carry. */
export interface ControlEndpoint {
  url: string;
  token: string;
  pid: number;
  version: number;
}
