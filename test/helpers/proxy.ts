import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a Redis server. Subclasses decide what passes between each
 * client and its own upstream connection (`pipe`).
 */
abstract class Proxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly upstreamPort: number) {}

  /** Wires one client to its upstream connection; `close` ends both. */
  protected abstract pipe(client: Socket, upstream: Socket, close: () => void): void;

  async start(): Promise<number> {
    this.server = createServer((client) => {
      const upstream = connect(this.upstreamPort, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      this.pipe(client, upstream, close);
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server!.address() as { port: number }).port;
    return this.port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

/**
 * A proxy that can lose replies: when armed, the reply to the next script call (EVAL/EVALSHA) is
 * dropped and the client's connection cut, so the command ran but the client never hears of it (the
 * case an idempotent producer must survive). Other commands, such as the handshake of a
 * reconnecting client, pass.
 */
export class ReplyCutter extends Proxy {
  /** Replies still to drop. */
  armed = 0;
  /** Replies dropped so far. */
  cut = 0;

  protected pipe(client: Socket, upstream: Socket, close: () => void): void {
    let cutNextReply = false;
    client.on('data', (d: Buffer) => {
      if (this.armed > 0 && !cutNextReply && /EVAL/i.test(d.toString('latin1'))) {
        this.armed--;
        cutNextReply = true;
      }
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (cutNextReply) {
        this.cut++;
        close();
        return;
      }
      client.write(d);
    });
  }
}

/**
 * A proxy that counts round trips, over all its connections: a client's writes up to the next
 * reply are one round trip, whatever number of commands they carry (a pipeline is one).
 */
export class RoundTripCounter extends Proxy {
  roundTrips = 0;

  protected pipe(client: Socket, upstream: Socket): void {
    let awaitingReply = false;
    client.on('data', (d: Buffer) => {
      if (!awaitingReply) this.roundTrips++;
      awaitingReply = true;
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      awaitingReply = false;
      client.write(d);
    });
  }
}
