import { describe, expect, it } from 'vitest';
import { compareResults } from '../src/bench/compare.js';
import { renderHtmlReport } from '../src/bench/html-report.js';
import type { LatencySummary } from '../src/bench/latency.js';
import type { MaxRateResult } from '../src/bench/max-rate.js';
import type { BenchResult } from '../src/bench/result.js';

function hop(stream: string, base: number): LatencySummary {
  return {
    stream,
    events: 20_000,
    p50: base,
    p90: base * 2,
    p99: base * 4 + 0.5,
    p999: base * 8,
    max: base * 16,
    mean: base * 1.5,
    overTime: Array.from({ length: 10 }, (_, t) => ({
      t,
      events: 2000,
      p50: base + t / 10,
      p99: base * 4 + t,
      max: base * 10,
    })),
    commitsOverTime: Array.from({ length: 11 }, (_, t) => ({ t, events: t === 10 ? 150 : 1985 })),
  };
}

function result(o: Partial<BenchResult> = {}): BenchResult {
  return {
    namespace: 'bench',
    pipeline: ['stage1', 'stage2', 'stage3'],
    mode: 'standalone',
    calibration: { xaddPerSecond: 123_457, redisBenchmarkXaddPerSecond: 654_321, pingMs: 0.087 },
    load: { rate: 2000, durationMs: 10_000, sent: 20_000, sendSeconds: 10.01, achievedSendRate: 1998 },
    throughput: { endToEndSeconds: 10.2, eventsPerSecond: 1961, drained: true },
    latency: [hop('ingest', 1.25), hop('stage1', 3.5), hop('stage2', 5.75), hop('out', 8.125)],
    processes: [
      { name: 'worker stage1', pid: 4242, cpuPercent: 17, rssMb: 88 },
      { name: 'bench (producer)', pid: 4343, cpuPercent: 23, rssMb: 101 },
      { name: 'redis 127.0.0.1:7000 (master)', cpuPercent: 31, rssMb: 12 },
    ],
    lagOverTime: Array.from({ length: 10 }, (_, i) => ({ t: i * 1000 + 3, lag: (i * 7) % 13 })),
    audit: { lost: 0, duplicates: 0, delivered: 20_000, outOfOrderKeys: 0 },
    max: null,
    comparison: null,
    ...o,
  };
}

const maxResult: MaxRateResult = {
  rate: 7594,
  achievedRate: 7561,
  firstUnsustainable: 8016,
  steps: [
    {
      rate: 5063,
      phase: 'grow',
      sent: 15_189,
      durationMs: 3000,
      achievedRate: 5063,
      endLag: 2,
      peakLag: 9,
      drainMs: 12,
      sustainable: true,
      reason: 'ok',
    },
    {
      rate: 7594,
      phase: 'grow',
      sent: 22_683,
      durationMs: 3000,
      achievedRate: 7561,
      endLag: 4,
      peakLag: 17,
      drainMs: 30,
      sustainable: true,
      reason: 'ok',
    },
    {
      rate: 11_391,
      phase: 'grow',
      sent: 34_100,
      durationMs: 3010,
      achievedRate: 11_329,
      endLag: 4321,
      peakLag: 4321,
      drainMs: null,
      sustainable: false,
      reason: 'lag-growing',
    },
  ],
  stoppedBy: 'time',
  elapsedMs: 17_500,
  budgetMs: 20_000,
  stepMs: 3000,
  graceMs: 2000,
};

const VOID = new Set(['meta', 'br', 'hr', 'img', 'input', 'link']);

/** Checks that every tag is closed in order, attributes are quoted, and no stray `<` is left in text. */
function wellFormedProblems(html: string): string[] {
  const problems: string[] = [];
  const body = html.replace(/^<!DOCTYPE html>\s*/, '');
  if (/<(?![a-zA-Z/])/.test(body)) problems.push('a stray < in text');
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][a-zA-Z0-9-]*)([^<>]*?)(\/?)>/g;
  for (let m = tag.exec(body); m; m = tag.exec(body)) {
    const [, closing, name, attrs, selfClosing] = m;
    if (!/^(\s+[a-zA-Z][a-zA-Z0-9:-]*="[^"<>]*")*\s*$/.test(attrs!))
      problems.push(`unquoted or broken attributes in <${name}${attrs}>`);
    if (closing) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open}>`);
    } else if (!selfClosing && !VOID.has(name!.toLowerCase())) stack.push(name!);
  }
  if (stack.length) problems.push(`unclosed: ${stack.join(', ')}`);
  return problems;
}

describe('renderHtmlReport', () => {
  const html = renderHtmlReport(result(), { generatedAt: '2024-05-01T10:00:00.000Z' });

  it('is a well-formed HTML document', () => {
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    expect(wellFormedProblems(html)).toEqual([]);
  });

  it('the well-formedness check catches broken markup', () => {
    expect(wellFormedProblems('<div><span></div></span>').length).toBeGreaterThan(0);
    expect(wellFormedProblems('<p>a < b</p>')).toEqual(['a stray < in text']);
    expect(wellFormedProblems('<p class=x>a</p>')).toEqual(['unquoted or broken attributes in <p class=x>']);
    expect(wellFormedProblems('<section><p>a</p>')).toEqual(['unclosed: section']);
  });

  it('is self-contained: no script, no stylesheet link, nothing fetched from a URL', () => {
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/\b(src|href)\s*=/i);
    expect(html).not.toMatch(/<script|<link|<iframe|<img|@import|url\(/i);
    expect(html).toMatch(/<style>[^<]+<\/style>/);
  });

  it('contains the figures: latency per hop, throughput, calibration, processes and the audit', () => {
    for (const h of result().latency) {
      expect(html).toContain(
        `<td>${h.stream}</td><td>20,000</td><td>${h.p50}</td><td>${h.p90}</td><td>${h.p99}</td><td>${h.p999}</td><td>${h.max}</td>`,
      );
    }
    expect(html).toContain('1,961 ev/s');
    expect(html).toContain('8.125 / 33 ms');
    expect(html).toContain('<td>123,457</td>');
    expect(html).toContain('<td>654,321</td>');
    expect(html).toContain('<td>0.087</td>');
    expect(html).toContain('<td>worker stage1</td><td>4,242</td><td>17</td><td>88</td>');
    expect(html).toContain('<td>redis 127.0.0.1:7000 (master)</td><td>-</td><td>31</td><td>12</td>');
    expect(html).toContain('<tr><td>lost</td><td>0</td></tr>');
    expect(html).toContain('no loss, no duplicates');
    expect(html).toContain('2024-05-01T10:00:00.000Z');
  });

  it('draws latency over time (p50 and p99 per hop), percentiles per hop, throughput and lag over time', () => {
    expect(html.match(/<svg /g)?.length).toBe(4);
    for (const title of [
      'Latency over time',
      'Latency percentiles per hop',
      'Events committed per second at each hop',
      'Pipeline lag over time',
    ])
      expect(html).toContain(`<title>${title}`);
    // One line per hop and percentile, one point per window.
    const latencyChart = html.slice(html.indexOf('<svg'), html.indexOf('</svg>'));
    const lines = [...latencyChart.matchAll(/<polyline [^>]*points="([^"]+)"/g)].map((m) => m[1]!.split(' ').length);
    expect(lines).toEqual([10, 10, 10, 10, 10, 10, 10, 10]);
    expect(latencyChart).toContain('<title>out p99</title>');
    // The percentile chart: 5 bars per hop.
    expect(html.match(/<rect /g)?.length).toBe(20);
    expect(html).toContain('<title>out p99.9: 65</title>');
    // Throughput: one point per second of commits, and the lag samples.
    expect(html).toContain('<title>ingest: 150 at 10</title>');
    expect(html).toContain('<title>lag + pending entries: 9 at 5.003</title>');
  });

  it('escapes text from the result', () => {
    const h = renderHtmlReport(result({ pipeline: ['<b>&"x"'], namespace: "n's" }));
    expect(h).toContain('&lt;b&gt;&amp;&quot;x&quot;');
    expect(h).not.toContain('<b>&');
    expect(h).toContain('n&#39;s');
    expect(wellFormedProblems(h)).toEqual([]);
  });

  it('escapes all five markup characters, in a table cell and in a chart', () => {
    const name = `<a href="x">'&'</a>`;
    const h = renderHtmlReport(
      result({
        processes: [{ name, pid: 1, cpuPercent: 5, rssMb: 6 }],
        latency: [hop(name, 1.25)],
      }),
    );
    const escaped = '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;';
    expect(h).toContain(`<td>${escaped}</td><td>1</td><td>5</td><td>6</td>`);
    expect(h).toContain(`<title>${escaped} p99</title>`);
    expect(h).not.toContain('<a ');
    expect(h).not.toContain(`'&'`);
    expect(wellFormedProblems(h)).toEqual([]);
  });

  it('shows losses, duplicates and an undrained run as failures', () => {
    const h = renderHtmlReport(
      result({
        audit: { lost: 3, duplicates: 2, delivered: 19_999, outOfOrderKeys: 0 },
        throughput: { endToEndSeconds: 70, eventsPerSecond: 285, drained: false },
      }),
    );
    expect(h).toContain('lost 3, duplicates 2');
    expect(h).toContain('<tr class="bad"><td>lost</td><td>3</td></tr>');
    expect(h).toContain('<tr class="bad"><td>drained</td><td>no</td></tr>');
    expect(h).not.toContain('no loss, no duplicates');
  });

  it('includes the --max search and the --compare verdict when present, and neither otherwise', () => {
    expect(html).not.toContain('Highest sustainable rate');
    expect(html).not.toContain('Comparison');
    const base = result();
    const comparison = compareResults({ ...base, throughput: { eventsPerSecond: 3000 } }, base, {
      label: 'before.json',
    });
    const h = renderHtmlReport(result({ max: maxResult, comparison }));
    expect(wellFormedProblems(h)).toEqual([]);
    expect(h).toContain('highest sustainable rate 7,594 events/s (achieved 7,561/s)');
    expect(h).toContain(
      '<td>3</td><td>grow</td><td>11,391</td><td>11,329</td><td>34,100</td><td>4,321</td><td>4,321</td><td>not within grace</td><td>no (lag-growing)</td>',
    );
    expect(h).toContain('Against before.json: <strong class="bad">worse</strong>');
    expect(h).toContain(
      '<td>* throughput</td><td>3,000 events/s</td><td>1,961 events/s</td><td>-34.6% (normalised)</td><td>worse</td>',
    );
    expect(h.match(/<svg /g)?.length).toBe(5);
  });

  it('says so instead of drawing an empty chart', () => {
    const h = renderHtmlReport(result({ lagOverTime: [], calibration: null }));
    expect(h).toContain('Pipeline lag over time: no data');
    expect(h).toContain('not calibrated (--no-calibrate)');
    expect(wellFormedProblems(h)).toEqual([]);
  });
});
