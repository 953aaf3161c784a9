/** Parses the text of INFO into a flat field map (section headers dropped). */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** A number field of INFO, or undefined when absent. */
export function infoNumber(info: Record<string, string>, key: string): number | undefined {
  const v = info[key];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** Turns a flat `[k1, v1, k2, v2, ...]` reply (XINFO, CONFIG GET) into an object. */
export function pairs(reply: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(reply)) return (reply ?? {}) as Record<string, unknown>;
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = reply[i + 1];
  return out;
}

/** One line of CLUSTER NODES. */
export interface ClusterNodeLine {
  id: string;
  host: string;
  port: number;
  flags: string[];
  primaryId: string | undefined;
  linkState: string;
  configEpoch: number;
  slots: number;
  /** The slots served, as inclusive ranges (a single slot is `[s, s]`). */
  ranges: [number, number][];
}

/** Parses CLUSTER NODES. Slot migration markers (`[...]`) are not counted as owned slots. */
export function parseClusterNodes(text: string): ClusterNodeLine[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', addr = '', flags = '', master = '-', , , epoch = '0', link = '', ...slots] = line
        .trim()
        .split(' ');
      const hostPort = addr.split('@')[0] ?? '';
      const colon = hostPort.lastIndexOf(':');
      const ranges: [number, number][] = [];
      for (const s of slots) {
        if (s.startsWith('[')) continue;
        const [a = 0, b = a] = s.split('-').map(Number);
        ranges.push([a, b]);
      }
      return {
        id,
        host: hostPort.slice(0, colon),
        port: Number(hostPort.slice(colon + 1)),
        flags: flags.split(',').filter((f) => f && f !== 'myself'),
        primaryId: master === '-' ? undefined : master,
        linkState: link,
        configEpoch: Number(epoch),
        slots: ranges.reduce((n, [a, b]) => n + b - a + 1, 0),
        ranges,
      };
    });
}
