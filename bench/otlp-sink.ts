/**
 * An OTLP/HTTP receiver for the tracing benchmark, in a process of its own (the benchmark runs its
 * commands synchronously, and would not answer the exporters meanwhile): it answers every export,
 * counts requests and bytes, and appends JSON exports (`http/json`) to a file, one per line.
 *
 *   node dist/bench/otlp-sink.js PORT_FILE DUMP_FILE
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const [portFile, dumpFile] = process.argv.slice(2);
let requests = 0;
let bytes = 0;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    requests++;
    bytes += body.length;
    if (dumpFile && String(req.headers['content-type']).includes('json'))
      appendFileSync(dumpFile, `${body.toString('utf8').replace(/\n/g, ' ')}\n`);
    res.writeHead(200, { 'content-type': String(req.headers['content-type'] ?? 'application/json') });
    res.end(String(req.headers['content-type']).includes('json') ? '{}' : '');
  });
});
server.listen(0, '127.0.0.1', () => {
  writeFileSync(portFile!, String((server.address() as AddressInfo).port));
});
process.on('SIGTERM', () => {
  console.error(`otlp sink: ${requests} export(s), ${bytes} bytes`);
  server.close(() => process.exit(0));
});
