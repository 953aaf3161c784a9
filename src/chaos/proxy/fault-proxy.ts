/**
 * A TCP proxy in front of one Redis node that puts faults ("toxics", as toxiproxy calls them) on the
 * bytes it forwards: delay, slow, drop, reset, slice, cut. Unlike a fault on the process (kill,
 * pause), a toxic breaks only the network between clients and the node, and can be aimed at one
 * direction.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { StreamctlError, UsageError } from '../../errors.js';
import { ProxyConnection, type ProxyTarget } from './proxy-connection.js';
import { appliesTo, parseToxic, type Direction, type Toxic, type ToxicInput, type ToxicType } from './toxic.js';
import type { ActiveToxic } from './toxic-chain.js';

export type { ProxyTarget } from './proxy-connection.js';

/** Bytes of one direction. */
export interface DirectionBytes {
  /** Read from the sending side. */
  received: number;
  /** Written to the receiving side (less than received while a toxic holds or drops bytes). */
  forwarded: number;
}

/** What one active toxic did, summed over all connections since it was added. */
export interface ToxicStats {
  type: ToxicType;
  direction: Toxic['direction'];
  /** Bytes that reached the toxic: delayed, paced, sliced, dropped, or counted towards its limit. */
  bytes: number;
  /** Connections it reset (`reset_peer`; 0 for the others). */
  resets: number;
}

/** Counters of a proxy since it was made; enough to prove a fault acted and that traffic went through. */
export interface FaultProxyStats {
  connections: {
    accepted: number;
    open: number;
    /** Accepted, but the upstream could not be reached. */
    upstreamFailed: number;
    /**
     * The local ports of the open connections to the node: the node sees its proxied clients at
     * these, so any other client it lists came around the proxy.
     */
    upstreamPorts: number[];
  };
  bytes: Record<Direction, DirectionBytes>;
  /** The toxics active now, by name. */
  toxics: Record<string, ToxicStats>;
}

const DIRECTIONS: readonly Direction[] = ['upstream', 'downstream'];

/**
 * Forwards each connection made to it on 127.0.0.1 to `upstream`, through the toxics active at the
 * time each chunk arrives: adding or removing a toxic acts on the open connections as well as the
 * new ones.
 *
 * @example
 * const proxy = new FaultProxy({ host: '127.0.0.1', port: 7000 });
 * const port = await proxy.listen();
 * proxy.addToxic({ name: 'slow', type: 'latency', direction: 'both', ms: 50 });
 * // ... clients connect to 127.0.0.1:port ...
 * proxy.removeToxic('slow');
 * await proxy.close();
 */
export class FaultProxy {
  private readonly server: Server;
  private readonly connections = new Set<ProxyConnection>();
  private readonly active = new Map<string, ActiveToxic>();
  /** The active toxics acting on each direction, in the order they were added (rebuilt on change). */
  private chain: Record<Direction, ActiveToxic[]> = { upstream: [], downstream: [] };
  private readonly counters = {
    accepted: 0,
    upstreamFailed: 0,
    bytes: { upstream: { received: 0, forwarded: 0 }, downstream: { received: 0, forwarded: 0 } },
  };
  private closing: Promise<void> | undefined;

  /** @param upstream the Redis node to forward to. */
  constructor(readonly upstream: ProxyTarget) {
    // allowHalfOpen: a client's FIN is passed on only after what the toxics still hold for Redis.
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.accept(s));
    // Without a listener, a server error (EADDRINUSE) would be unhandled; listen() reports it.
    this.server.on('error', () => {});
  }

  /**
   * Starts listening on 127.0.0.1.
   * @param port 0 (the default) picks a free port.
   * @returns the bound port.
   * @throws StreamctlError PROXY_LISTEN when the port cannot be bound, or the proxy is closed.
   */
  listen(port = 0): Promise<number> {
    if (this.closing) return Promise.reject(new StreamctlError('PROXY_LISTEN', 'the fault proxy is closed'));
    return new Promise((resolve, reject) => {
      const onError = (err: Error) =>
        reject(
          new StreamctlError('PROXY_LISTEN', `fault proxy: cannot listen on 127.0.0.1:${port}: ${err.message}`, {
            cause: err,
            hint: 'pick another port, or 0 for a free one',
          }),
        );
      this.server.once('error', onError);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', onError);
        resolve(this.port!);
      });
    });
  }

  /** The bound port, once listening. */
  get port(): number | undefined {
    const a = this.server.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  /**
   * Adds a toxic (checked and completed by the toxic schema); it acts at once on open connections too.
   * `reset_peer` resets every open connection now, and each new one while it stays.
   * @returns the toxic as kept, defaults filled in.
   * @throws UsageError BAD_TOXIC for a malformed toxic, TOXIC_EXISTS when the name is taken.
   */
  addToxic(input: ToxicInput): Toxic {
    const toxic = parseToxic(input);
    if (this.active.has(toxic.name))
      throw new UsageError(
        'TOXIC_EXISTS',
        `fault proxy: a toxic named "${toxic.name}" is already active`,
        'remove it first, or pick another name',
      );
    const active: ActiveToxic = { toxic, bytes: 0, resets: 0 };
    this.active.set(toxic.name, active);
    this.rebuildChain();
    if (toxic.type === 'reset_peer') {
      for (const c of [...this.connections]) {
        active.resets++;
        c.reset();
      }
    }
    return toxic;
  }

  /**
   * Removes a toxic, at once: what latency, bandwidth or slicer toxics hold in its directions is
   * released right away, in order. (Bytes other toxics still delay in the same queue are released
   * with it: a queued piece keeps one due time, not one per toxic.)
   * @returns whether a toxic of that name was active.
   */
  removeToxic(name: string): boolean {
    const active = this.active.get(name);
    if (!active) return false;
    this.active.delete(name);
    this.rebuildChain();
    const t = active.toxic;
    if (t.type === 'latency' || t.type === 'bandwidth' || t.type === 'slicer') {
      for (const dir of DIRECTIONS) {
        if (!appliesTo(t, dir)) continue;
        for (const c of this.connections) c.flush(dir);
      }
    }
    return true;
  }

  /** The active toxics, in the order they were added. */
  toxics(): Toxic[] {
    return [...this.active.values()].map((a) => a.toxic);
  }

  /** A snapshot of the counters. */
  stats(): FaultProxyStats {
    const toxics: Record<string, ToxicStats> = {};
    for (const [name, a] of this.active) {
      toxics[name] = { type: a.toxic.type, direction: a.toxic.direction, bytes: a.bytes, resets: a.resets };
    }
    const b = this.counters.bytes;
    return {
      connections: {
        accepted: this.counters.accepted,
        open: this.connections.size,
        upstreamFailed: this.counters.upstreamFailed,
        upstreamPorts: [...this.connections]
          .map((c) => c.upstream.localPort)
          .filter((p): p is number => p !== undefined),
      },
      bytes: { upstream: { ...b.upstream }, downstream: { ...b.downstream } },
      toxics,
    };
  }

  /** Stops listening and destroys every connection. Idempotent; resolves once the server is closed. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      for (const c of [...this.connections]) c.destroy();
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
    return this.closing;
  }

  private accept(client: Socket): void {
    this.counters.accepted++;
    // Until the connection owns it, an error on the socket must not go unhandled.
    client.on('error', () => {});
    if (this.closing) return void client.destroy();
    const reset = [...this.active.values()].find((a) => a.toxic.type === 'reset_peer');
    if (reset) {
      reset.resets++;
      client.resetAndDestroy();
      return;
    }
    const conn: ProxyConnection = new ProxyConnection(client, this.upstream, {
      link: (dir) => {
        const bytes = this.counters.bytes[dir];
        return {
          toxics: () => this.chain[dir],
          received: (n) => void (bytes.received += n),
          forwarded: (n) => void (bytes.forwarded += n),
        };
      },
      upstreamFailed: () => void this.counters.upstreamFailed++,
      closed: () => void this.connections.delete(conn),
    });
    this.connections.add(conn);
  }

  private rebuildChain(): void {
    const all = [...this.active.values()];
    this.chain = {
      upstream: all.filter((a) => appliesTo(a.toxic, 'upstream')),
      downstream: all.filter((a) => appliesTo(a.toxic, 'downstream')),
    };
  }
}

/** Starts a fault proxy to `upstream` on a free port of 127.0.0.1: what `up --fault-proxy` runs per node. */
export async function startFaultProxy(upstream: ProxyTarget): Promise<FaultProxy> {
  const proxy = new FaultProxy(upstream);
  await proxy.listen(0);
  return proxy;
}
