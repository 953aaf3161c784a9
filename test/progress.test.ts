import { describe, expect, it } from 'vitest';
import { startProgress } from '../src/progress.js';

describe('startProgress', () => {
  const output = (isTTY: boolean) => {
    const out = { text: '', isTTY, write: (t: string) => void (out.text += t) };
    return out;
  };

  it('off a terminal writes whole lines every interval and nothing at stop', async () => {
    const out = output(false);
    let n = 0;
    const p = startProgress(out, { line: () => `tick ${++n}`, redraw: () => 'bar', everyMs: 20 });
    await new Promise<void>((resolve) => {
      const check = setInterval(() => n >= 2 && (clearInterval(check), resolve()), 5);
    });
    p.stop();
    const lines = out.text;
    p.stop();
    expect(lines).toMatch(/^tick 1\ntick 2\n/);
    expect(out.text).toBe(lines);
  });

  it('on a terminal redraws in place and ends the line at stop; without a redraw it writes nothing', () => {
    const tty = output(true);
    startProgress(tty, { line: () => 'plain', redraw: () => 'bar 50%' }).stop();
    expect(tty.text).toBe('\rbar 50%\n');
    const silent = output(true);
    startProgress(silent, { line: () => 'plain' }).stop();
    expect(silent.text).toBe('');
  });
});
