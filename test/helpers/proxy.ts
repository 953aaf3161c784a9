import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a Redis server that can lose replies: when armed, the reply to the next
 * script call (EVAL/EVALSHA) is dropped and the client's connection cut, so the command ran but the
 * client never hears of it (the case an idempotent producer must survive). Other commands, such as
 * the handshake of a reconnecting client, pass.
 */
export class ReplyCutter {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Replies still to drop. */
  armed = 0;
  /** Replies dropped so far. */
  cut = 0;
  port = 0;

  constructor(private readonly upstreamPort: number) {}

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
