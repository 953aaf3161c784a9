import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RuntimeError, UsageError } from './errors.js';

/** How a server's bind errors are named: their code prefix, what listens, the flag to change. */
export interface ListenNames {
  /** `HTTP` gives HTTP_PORT_BUSY, HTTP_PORT_DENIED, HTTP_LISTEN_FAILED. */
  code: string;
  /** What listens, in messages (`metrics`), if not the command's main server. */
  what?: string;
  /** The flag that sets the port, named in the hints. */
  portFlag: string;
  /** The hint of an error other than a busy or denied port. */
  failHint: string;
}

/**
 * Binds `server` to `host:port` and resolves with the port bound (the one picked for port 0).
 * @throws UsageError <code>_PORT_BUSY / <code>_PORT_DENIED, naming the port flag in the hint, when
 *   the port is taken or privileged; RuntimeError <code>_LISTEN_FAILED for anything else.
 */
export function listen(server: Server, host: string, port: number, n: ListenNames): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const where = `${host}:${port}`;
      if (err.code === 'EADDRINUSE')
        reject(
          new UsageError(
            `${n.code}_PORT_BUSY`,
            `${n.what ? `${n.what} ` : ''}port ${where} is already in use`,
            `pick another ${n.portFlag}, or 0 for a free one`,
          ),
        );
      else if (err.code === 'EACCES')
        reject(
          new UsageError(
            `${n.code}_PORT_DENIED`,
            `not allowed to listen on ${where}`,
            `use a ${n.portFlag} above 1023, or 0 for a free one`,
          ),
        );
      else
        reject(
          new RuntimeError(
            `${n.code}_LISTEN_FAILED`,
            `cannot listen on ${where}${n.what ? ` for ${n.what}` : ''}: ${err.message}`,
            n.failHint,
            err,
          ),
        );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      // After listening, a socket error is a client's problem: an 'error' event without a
      // listener would throw and end the process.
      server.on('error', () => {});
      resolve((server.address() as AddressInfo).port);
    });
  });
}
