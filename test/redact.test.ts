import { describe, expect, it } from 'vitest';
import { redact, redactUrl, registerSecret } from '../src/redact.js';

describe('redactUrl', () => {
  it('replaces the password and keeps the user', () => {
    expect(redactUrl('redis://alice:s3cret@h:6379/1')).toBe('redis://alice:***@h:6379/1');
    expect(redactUrl('rediss://bob:s3cret@h:6380')).toBe('rediss://bob:***@h:6380');
  });

  it('handles a password without a user', () => {
    expect(redactUrl('redis://:s3cret@h')).toBe('redis://:***@h');
  });

  it('leaves URLs without a password unchanged', () => {
    for (const u of [
      'redis://h:7000',
      'redis://alice@h:7000',
      'rediss://[::1]:7000/2',
      'redis://h1:7000,redis://h2:7001',
    ]) {
      expect(redactUrl(u)).toBe(u);
    }
  });

  it('redacts every URL in a text, including comma-separated seeds', () => {
    const text = 'seeds redis://a:one1@h1:7000,redis://h2:7001,rediss://b:two2@h3:7002 then redis://c:three@h4';
    const out = redactUrl(text);
    expect(out).toBe('seeds redis://a:***@h1:7000,redis://h2:7001,rediss://b:***@h3:7002 then redis://c:***@h4');
    for (const p of ['one1', 'two2', 'three']) expect(out).not.toContain(p);
  });

  it('keeps a URL-encoded password out', () => {
    expect(redactUrl('redis://u:p%40ss%3Aw@h')).toBe('redis://u:***@h');
  });
});

describe('redact', () => {
  it('removes a registered secret wherever it appears', () => {
    registerSecret('topsecret-1');
    expect(redact('AUTH topsecret-1 failed; retry with topsecret-1')).toBe('AUTH *** failed; retry with ***');
  });

  it('removes the URL-encoded form of a registered secret', () => {
    registerSecret('p@ss w0rd/x');
    const out = redact('tried redis-cli -u redis://u:p%40ss%20w0rd%2Fx@h and "p@ss w0rd/x"');
    expect(out).not.toContain('p%40ss%20w0rd%2Fx');
    expect(out).not.toContain('p@ss w0rd/x');
    expect(out).toBe('tried redis-cli -u redis://u:***@h and "***"');
  });

  it('redacts URL passwords even when they were never registered', () => {
    expect(redact('connect redis://u:never-registered@h:1 failed')).toBe('connect redis://u:***@h:1 failed');
  });

  it('ignores secrets shorter than 3 characters outside URLs, but still redacts them in URLs', () => {
    registerSecret('ab');
    registerSecret(undefined);
    registerSecret('');
    expect(redact('table about')).toBe('table about');
    expect(redact('redis://u:ab@h')).toBe('redis://u:***@h');
  });

  it('redacts several URLs and several secrets in one text', () => {
    registerSecret('multi-secret-A');
    registerSecret('multi-secret-B');
    const out = redact('a=multi-secret-A b=multi-secret-B redis://x:zz9@h1 rediss://y:yy8@h2');
    expect(out).toBe('a=*** b=*** redis://x:***@h1 rediss://y:***@h2');
  });

  it('leaves text without secrets alone', () => {
    expect(redact('nothing to hide here: redis://h:6379')).toBe('nothing to hide here: redis://h:6379');
  });
});
