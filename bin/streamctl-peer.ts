/**
 * The process of one peer baseline's hop, worker or producer (`streamctl bench --peers`, forked by
 * src/bench/peers/child.ts with an IPC channel): `streamctl-peer naive|bullmq ROLE ...`. It exits
 * when its role is done, when its parent goes away, or (code 1) after reporting an error to it.
 */
import { sendToParent } from '../src/bench/peers/child.js';

const [peer, ...args] = process.argv.slice(2);
process.on('disconnect', () => process.exit(0));
try {
  // Imported on demand: bullmq is an optional dependency, and only its own peer loads it.
  if (peer === 'naive') await (await import('../src/bench/peers/naive-child.js')).runNaiveChild(args);
  else if (peer === 'bullmq') await (await import('../src/bench/peers/bullmq-child.js')).runBullmqChild(args);
  else throw new Error(`unknown peer ${peer}: streamctl-peer naive|bullmq ROLE ...`);
  process.exit(0);
} catch (err) {
  await sendToParent({ type: 'error', message: String((err as Error)?.stack ?? err) });
  process.exit(1);
}
