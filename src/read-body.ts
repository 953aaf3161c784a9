import type { IncomingMessage } from 'node:http';

/** A request body over the limit, declared or counted as it came. */
export class BodyTooLarge extends Error {}

/**
 * Reads a request body of at most `maxBytes`.
 * @throws BodyTooLarge as soon as the declared length or the bytes received exceed it; the rest
 *   of the body is then not read.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.off('end', onEnd);
        chunks.length = 0;
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    };
    // One chunk (a body that came in one read) needs no copy.
    const onEnd = () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
  });
}
