import { describe, expect, it } from 'vitest';
import { formatBytes, renderTable } from '../src/table.js';

// eslint-disable-next-line no-control-regex
const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
const green = (s: string) => `\x1b[32m${s}\x1b[39m`;
const boldRed = (s: string) => `\x1b[1;31m${s}\x1b[0m`;

describe('renderTable', () => {
  it('aligns columns two spaces apart under the header, with the default indent', () => {
    const out = renderTable(
      ['NODE', 'ROLE', 'NOTE'],
      [
        ['127.0.0.1:7000', 'master', 'ok'],
        ['h:1', 'slave', 'lagging'],
      ],
    );
    expect(out.split('\n')).toEqual([
      '  NODE            ROLE    NOTE',
      '  127.0.0.1:7000  master  ok',
      '  h:1             slave   lagging',
    ]);
  });

  it('ignores ANSI colour codes when measuring width', () => {
    const out = renderTable(
      ['NAME', 'STATUS', 'NOTE'],
      [
        ['a', green('ok'), 'x'],
        ['longer', boldRed('down'), 'y'],
      ],
    );
    const lines = out.split('\n');
    expect(lines[1]).toBe(`  a       ${green('ok')}      x`);
    const plain = lines.map(strip);
    expect(plain).toEqual(['  NAME    STATUS  NOTE', '  a       ok      x', '  longer  down    y']);
    // The last column starts at the same visible position on every line.
    const col = plain[0]!.indexOf('NOTE');
    expect(plain[1]!.indexOf('x')).toBe(col);
    expect(plain[2]!.indexOf('y')).toBe(col);
  });

  it('does not pad the last column and trims trailing blanks', () => {
    const out = renderTable(
      ['A', 'B'],
      [
        ['long-value', ''],
        ['x', 'y'],
      ],
      '',
    );
    const lines = out.split('\n');
    expect(lines).toEqual(['A           B', 'long-value', 'x           y']);
    expect(lines.every((l) => l === l.trimEnd())).toBe(true);
  });

  it('treats missing cells as empty and renders a header alone', () => {
    expect(renderTable(['A', 'B', 'C'], [['1']], '')).toBe('A  B  C\n1');
    expect(renderTable(['ID', 'NAME'], [])).toBe('  ID  NAME');
  });
});

describe('formatBytes', () => {
  it.each([
    [undefined, '-'],
    [0, '0B'],
    [512, '512B'],
    [1023, '1023B'],
    [1024, '1.0KB'],
    [1536, '1.5KB'],
    [10 * 1024, '10KB'],
    [500 * 1024, '500KB'],
    [5 * 1024 ** 2, '5.0MB'],
    [1.25 * 1024 ** 2, '1.3MB'],
    [3 * 1024 ** 3, '3.0GB'],
    [2 * 1024 ** 4, '2.0TB'],
    [2048 * 1024 ** 4, '2048TB'],
  ])('%s is %s', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });
});
