import { connect } from 'node:net';

/** How long a probe waits for its answer (a cut connection never answers). */
const PROBE_MS = 500;

/**
 * Sends a PING to `host:port` on a new connection and waits for its answer, a reset, or a short
 * timeout: traffic that a network fault's counters then show it acted on.
 */
export function pingProbe(host: string, port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, host, () => s.write('PING\r\n'));
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(done, PROBE_MS);
    s.once('data', done);
    s.once('error', done);
    s.once('close', done);
  });
}
