import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { metricWorkload, parseTruth, type MetricEvent } from '../src/workload/metric-workload.js';
import { readNdjsonWorkload, type NdjsonEvent, type NdjsonWorkload } from '../src/workload/ndjson-workload.js';

function take(n: number, opts: Parameters<typeof metricWorkload>[0]): MetricEvent[] {
  const w = metricWorkload(opts);
  return Array.from({ length: n }, () => w.next());
}

describe('readNdjsonWorkload', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndjson-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const lines = [
    /* 1 */ '\uFEFF{"key":"a","value":1}',
    /* 2 */ '{"key":"b","value":2,"truth":{"anomaly":true,"kind":"spike"}}',
    /* 3 */ 'not json',
    /* 4 */ '',
    /* 5 */ '[1,2]',
    /* 6 */ '{"value":3}',
    /* 7 */ '{"key":7}',
    /* 8 */ '{"key":"c", "note":"spaced  as given"}\r',
    /* 9 */ '   ',
    /* 10 */ '{"key":""}',
    /* 11 */ '{"key":"d","x":"é"}',
    /* 12 */ 'null',
    /* 13 */ '{"key":"e"',
    /* 14 */ '{"key":"f"}',
  ];
  const file = join(dir, 'events.ndjson');
  // Line 15: invalid UTF-8.
  writeFileSync(
    file,
    Buffer.concat([
      Buffer.from(`${lines.join('\n')}\n{"key":"g","x":"`),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}\n'),
    ]),
  );

  const drain = async (w: NdjsonWorkload): Promise<NdjsonEvent[]> => {
    const out: NdjsonEvent[] = [];
    for await (const e of w) out.push(e);
    return out;
  };

  it.each([1 << 20, 7, 1])(
    'yields the good lines and reports the malformed ones with line numbers (reads of %d bytes)',
    async (chunkBytes) => {
      const w = await readNdjsonWorkload(file, { chunkBytes });
      const events = await drain(w);
      expect(events.map((e) => [e.line, e.key])).toEqual([
        [1, 'a'],
        [2, 'b'],
        [8, 'c'],
        [11, 'd'],
        [14, 'f'],
      ]);
      expect(events[0]!.data.toString()).toBe('{"key":"a","value":1}');
      expect(events[1]!.data.toString()).toBe(lines[1]);
      expect(events[2]!.data.toString()).toBe('{"key":"c", "note":"spaced  as given"}');
      expect(events[3]!.data.equals(Buffer.from('{"key":"d","x":"é"}'))).toBe(true);
      expect(parseTruth(events[1]!.data)).toEqual({ anomaly: true, kind: 'spike' });
      expect(parseTruth(events[0]!.data)).toBeUndefined();
      expect(w.malformed.map((m) => m.line)).toEqual([3, 5, 6, 7, 10, 12, 13, 15]);
      const reason = (line: number) => w.malformed.find((m) => m.line === line)!.reason;
      expect(reason(3)).toMatch(/^not JSON/);
      expect(reason(5)).toMatch(/not a JSON object \(array\)/);
      expect(reason(6)).toMatch(/no "key"/);
      expect(reason(7)).toMatch(/"key" is not a non-empty string/);
      expect(reason(12)).toMatch(/null/);
      expect(reason(15)).toMatch(/UTF-8/);
      expect(w.malformed[0]!.text).toBe('not json');
      expect(w.stats).toEqual({ lines: 15, events: 5, malformed: 8, blank: 2, bytes: statSync(file).size });
      expect(w.size).toBe(statSync(file).size);
    },
  );

  it('works with next() and keeps at most maxMalformed details', async () => {
    const w = await readNdjsonWorkload(file, { maxMalformed: 2 });
    const keys: string[] = [];
    for (let e = await w.next(); e; e = await w.next()) keys.push(e.key);
    expect(keys).toEqual(['a', 'b', 'c', 'd', 'f']);
    expect(await w.next()).toBeUndefined();
    expect(w.malformed.map((m) => m.line)).toEqual([3, 5]);
    expect(w.stats.malformed).toBe(8);
  });

  it('replays generated events byte for byte, and can stop early', async () => {
    const events = take(1000, { keys: 10, seed: 2, anomalyRate: 0.05 });
    const path = join(dir, 'generated.ndjson');
    writeFileSync(path, `${events.map((e) => e.data.toString()).join('\n')}\n`);
    const replayed = await drain(await readNdjsonWorkload(path, { chunkBytes: 4096 }));
    expect(replayed.length).toBe(1000);
    replayed.forEach((e, i) => {
      expect(e.data.equals(events[i]!.data)).toBe(true);
      expect(e.key).toBe(events[i]!.key);
      expect(e.line).toBe(i + 1);
    });
    const w = await readNdjsonWorkload(path);
    expect((await w.next())?.key).toBe(events[0]!.key);
    await w.close();
    expect(await w.next()).toBeUndefined();
    await (await readNdjsonWorkload(path)).close(); // closing before reading
  });

  it('reads a last line without a newline', async () => {
    const path = join(dir, 'no-newline.ndjson');
    writeFileSync(path, '{"key":"x"}\n{"key":"y","v":1}');
    const w = await readNdjsonWorkload(path, { chunkBytes: 5 });
    expect((await drain(w)).map((e) => [e.line, e.data.toString()])).toEqual([
      [1, '{"key":"x"}'],
      [2, '{"key":"y","v":1}'],
    ]);
    expect(w.malformed).toEqual([]);
  });

  it('fails at once on a missing file', async () => {
    await expect(readNdjsonWorkload(join(dir, 'missing.ndjson'))).rejects.toThrow(/ENOENT/);
  });
});
