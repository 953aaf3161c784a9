/**
 * The background supervisor of `streamctl up --detach` (started by src/embedded/background-supervisor.ts
 * with an IPC channel): it runs the deployment until `down` asks it to stop on its control channel,
 * or until SIGTERM/SIGINT/SIGHUP, then drains the workers, stops Redis and exits.
 */
import { startFaultProxy } from '../src/chaos/proxy/fault-proxy.js';
import { serveInBackground } from '../src/embedded/background-supervisor.js';
import { createRedisFactory } from '../src/redis/connection.js';

// Until `up` has its answer, the channel is open; afterwards, `up` is gone and that is expected.
process.on('disconnect', () => undefined);
// Listened for from the start: a signal while the deployment starts (`up` interrupted) stops it
// once it is up, rather than killing this process and leaving its redis-servers behind.
const signalled = new Promise<void>((resolve) => {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => resolve());
});
let sup;
try {
  sup = await serveInBackground(createRedisFactory(), startFaultProxy);
} catch {
  process.exit(1);
}
await Promise.race([sup.stopped, signalled.then(() => sup.stop({ keepData: false }))]);
process.exit(0);
