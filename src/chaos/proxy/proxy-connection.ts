import { connect, type Socket } from 'node:net';
import { ProxyLink, type LinkHooks } from './proxy-link.js';
import type { Direction } from './toxic.js';

/** Where a proxy forwards to. */
export interface ProxyTarget {
  host: string;
  port: number;
}

/** What a connection needs from its proxy: the hooks of each direction's link. */
export interface ConnectionHooks {
  link(dir: Direction): Omit<LinkHooks, 'limitReached'>;
  /** The upstream could not be reached (the client is reset). */
  upstreamFailed(err: Error): void;
  /** Both sockets are closed. */
  closed(): void;
}

/** How long a closing connection waits for its peers' FINs before destroying its sockets. */
const SHUTDOWN_GRACE_MS = 1000;

/**
 * An accepted client socket and its socket to the upstream, with a link each way. Whatever goes
 * wrong on either socket (an error, a reset, a peer gone) ends both, quietly: a fault proxy sees
 * broken connections as a matter of course, and none of them may surface as an unhandled 'error'.
 */
export class ProxyConnection {
  readonly upstream: Socket;
  private readonly links = new Map<Direction, ProxyLink>();
  private open = 2;
  private finished = false;

  constructor(
    readonly client: Socket,
    target: ProxyTarget,
    private readonly hooks: ConnectionHooks,
  ) {
    this.upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    this.upstream.setNoDelay(true);
    client.setNoDelay(true);
    let connected = false;
    this.upstream.once('connect', () => {
      connected = true;
      if (this.finished) return;
      this.attach('upstream', client, this.upstream);
      this.attach('downstream', this.upstream, client);
      // The proxy accepts with pauseOnConnect, so that nothing is read before there is somewhere to send it.
      client.resume();
    });
    for (const s of [client, this.upstream]) {
      s.on('error', (err) => {
        if (s === this.upstream && !connected) this.hooks.upstreamFailed(err);
        this.destroy();
      });
      s.once('close', (hadError) => this.onClose(s, hadError));
    }
  }

  /** Sends a TCP RST to both peers: each sees ECONNRESET, as if the other side had crashed. */
  reset(): void {
    if (this.finished) return;
    this.finish();
    for (const s of [this.client, this.upstream]) {
      try {
        // A socket still connecting has nothing to reset yet; destroying it is the same to its peer.
        if (s.connecting || s.destroyed) s.destroy();
        else s.resetAndDestroy();
      } catch {
        s.destroy();
      }
    }
  }

  /** Closes both sockets at once, dropping what is queued. */
  destroy(): void {
    if (this.finished && this.client.destroyed && this.upstream.destroyed) return;
    this.finish();
    this.client.destroy();
    this.upstream.destroy();
  }

  /** Ends both sockets with a FIN (what was written is delivered), destroying them if peers linger. */
  shutdown(): void {
    if (this.finished) return;
    this.finish();
    this.client.end();
    this.upstream.end();
    setTimeout(() => this.destroy(), SHUTDOWN_GRACE_MS).unref();
  }

  /** Releases what the toxics of `dir` hold (one of them was removed). */
  flush(dir: Direction): void {
    this.links.get(dir)?.flush();
  }

  private attach(dir: Direction, source: Socket, dest: Socket): void {
    this.links.set(
      dir,
      new ProxyLink(dir, source, dest, { ...this.hooks.link(dir), limitReached: () => this.shutdown() }),
    );
  }

  private finish(): void {
    this.finished = true;
    for (const l of this.links.values()) l.stop();
  }

  private onClose(s: Socket, hadError: boolean): void {
    const from = s === this.client ? 'upstream' : 'downstream';
    const to = s === this.client ? 'downstream' : 'upstream';
    // A clean close (its FIN read) leaves the other direction to deliver what it still holds; any
    // other close means the peer is gone, and so is the point of the other socket.
    if (hadError || !this.links.get(from)?.ended) this.destroy();
    else this.links.get(to)?.stop();
    if (--this.open === 0) this.hooks.closed();
  }
}
