import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RuntimeError, UsageError } from '../errors.js';

/**
 * Binds `server` to `host:port` and resolves with the port bound (the one picked for port 0).
 * @throws UsageError HTTP_PORT_BUSY / HTTP_PORT_DENIED, naming `portFlag` in the hint, when the
 *   port is taken or privileged; RuntimeError HTTP_LISTEN_FAILED for anything else.
 */
export function listen(server: Server, host: string, port: number, portFlag: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const where = `${host}:${port}`;
      if (err.code === 'EADDRINUSE')
        reject(
          new UsageError(
            'HTTP_PORT_BUSY',
            `port ${where} is already in use`,
            `pick another ${portFlag}, or 0 for a free one`,
          ),
        );
      else if (err.code === 'EACCES')
        reject(
          new UsageError(
            'HTTP_PORT_DENIED',
            `not allowed to listen on ${where}`,
            `use a ${portFlag} above 1023, or 0 for a free one`,
          ),
        );
      else
        reject(
          new RuntimeError(
            'HTTP_LISTEN_FAILED',
            `cannot listen on ${where}: ${err.message}`,
            'check --host and --port',
            err,
          ),
        );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      // An 'error' event without a listener would throw and end the process, ingest and all.
      server.on('error', () => {});
      resolve((server.address() as AddressInfo).port);
    });
  });
}
