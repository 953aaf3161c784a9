import { describe, expect, it } from 'vitest';
import { infoNumber, pairs, parseClusterNodes, parseInfo } from '../src/redis/info.js';

const INFO = [
  '# Server',
  'redis_version:7.2.4',
  'redis_mode:cluster',
  'os:Linux 6.5.0-1022-azure x86_64',
  'executable:/usr/local/bin/redis-server',
  'config_file:',
  '',
  '# Clients',
  'connected_clients:3',
  '',
  '# Memory',
  'used_memory:1482312',
  'used_memory_human:1.41M',
  'mem_fragmentation_ratio:9.53',
  '',
  '# Replication',
  'role:master',
  'connected_slaves:1',
  'slave0:ip=127.0.0.1,port=7003,state=online,offset=1890,lag=0',
  'master_repl_offset:1890',
  '',
  '# Keyspace',
  'db0:keys=12,expires=0,avg_ttl=0',
  '',
].join('\r\n');

describe('parseInfo', () => {
  const info = parseInfo(INFO);

  it('reads fields across sections and drops headers and blank lines', () => {
    expect(info.redis_version).toBe('7.2.4');
    expect(info.role).toBe('master');
    expect(info.connected_clients).toBe('3');
    expect(Object.keys(info).some((k) => k.startsWith('#') || k === '')).toBe(false);
    expect(Object.keys(info)).toHaveLength(14);
  });

  it('strips the CR of CRLF line endings', () => {
    expect(info.used_memory).toBe('1482312');
    expect(Object.values(info).some((v) => v.includes('\r'))).toBe(false);
  });

  it('keeps colons inside values and empty values', () => {
    expect(info.executable).toBe('/usr/local/bin/redis-server');
    expect(info.slave0).toBe('ip=127.0.0.1,port=7003,state=online,offset=1890,lag=0');
    expect(info.db0).toBe('keys=12,expires=0,avg_ttl=0');
    expect(info.config_file).toBe('');
  });

  it('also reads LF-only text', () => {
    expect(parseInfo('# Server\nrole:slave\nmaster_link_status:up\n')).toEqual({
      role: 'slave',
      master_link_status: 'up',
    });
  });
});

describe('infoNumber', () => {
  const info = parseInfo(INFO);

  it('reads integer and decimal fields', () => {
    expect(infoNumber(info, 'used_memory')).toBe(1_482_312);
    expect(infoNumber(info, 'mem_fragmentation_ratio')).toBe(9.53);
    expect(infoNumber(info, 'connected_slaves')).toBe(1);
  });

  it('is undefined for absent, empty and non-numeric fields', () => {
    expect(infoNumber(info, 'no_such_field')).toBeUndefined();
    expect(infoNumber(info, 'config_file')).toBeUndefined();
    expect(infoNumber(info, 'used_memory_human')).toBeUndefined();
    expect(infoNumber(info, 'role')).toBeUndefined();
  });
});

describe('pairs', () => {
  it('turns a flat [k, v, ...] reply into an object', () => {
    expect(pairs(['length', 5, 'groups', 1, 'last-generated-id', '1-0'])).toEqual({
      length: 5,
      groups: 1,
      'last-generated-id': '1-0',
    });
  });

  it('drops a trailing key without a value', () => {
    expect(pairs(['a', 1, 'b'])).toEqual({ a: 1 });
  });

  it('returns objects as they are and {} for null or undefined', () => {
    const obj = { maxmemory: '0' };
    expect(pairs(obj)).toBe(obj);
    expect(pairs(null)).toEqual({});
    expect(pairs(undefined)).toEqual({});
  });
});

const NODES = [
  '07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected',
  '67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922',
  '292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383',
  '6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 slave 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 connected',
  '824fe116063bc5fcf9f4ffd895bc17aee7731ac3 127.0.0.1:30006@31006 slave 292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 0 1426238317741 6 connected',
  'e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5459 5460 [93->-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f] [94-<-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]',
  'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678 127.0.0.1:30007@31007 master,fail - 1426238300000 1426238299000 7 disconnected',
  'ffffffffffffffffffffffffffffffffffffffff ::1:30008@31008 master - 0 1426238317239 8 connected 1 3 5-6',
  '',
].join('\n');

describe('parseClusterNodes', () => {
  const nodes = parseClusterNodes(NODES);
  const byPort = (port: number) => nodes.find((n) => n.port === port)!;

  it('reads one entry per line, ignoring the trailing newline', () => {
    expect(nodes).toHaveLength(8);
    expect(nodes.map((n) => n.port)).toEqual([30004, 30002, 30003, 30005, 30006, 30001, 30007, 30008]);
  });

  it('drops the myself flag and keeps the others', () => {
    expect(byPort(30001).flags).toEqual(['master']);
    expect(byPort(30007).flags).toEqual(['master', 'fail']);
    expect(nodes.some((n) => n.flags.includes('myself'))).toBe(false);
  });

  it('reads a replica with the id of its primary, host and port without the bus port or hostname', () => {
    const r = byPort(30004);
    expect(r).toEqual({
      id: '07c37dfeb235213a872192d90877d0cd55635b91',
      host: '127.0.0.1',
      port: 30004,
      flags: ['slave'],
      primaryId: 'e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca',
      linkState: 'connected',
      configEpoch: 4,
      slots: 0,
      ranges: [],
    });
  });

  it('has no primaryId for a primary', () => {
    expect(byPort(30002).primaryId).toBeUndefined();
  });

  it('counts ranges and single slots, not migration markers', () => {
    expect(byPort(30001).slots).toBe(5461);
    expect(byPort(30002).slots).toBe(10922 - 5461 + 1);
    expect(byPort(30003).slots).toBe(5461);
    expect(byPort(30008).slots).toBe(4);
  });

  it('keeps the ranges served, a single slot as a range of one', () => {
    expect(byPort(30001).ranges).toEqual([
      [0, 5459],
      [5460, 5460],
    ]);
    expect(byPort(30008).ranges).toEqual([
      [1, 1],
      [3, 3],
      [5, 6],
    ]);
  });

  it('reads a failed primary with no slots and a disconnected link', () => {
    const f = byPort(30007);
    expect(f.slots).toBe(0);
    expect(f.linkState).toBe('disconnected');
    expect(f.configEpoch).toBe(7);
  });

  it('splits an IPv6 address at its last colon', () => {
    expect(byPort(30008).host).toBe('::1');
  });

  it('tolerates CRLF line endings and surrounding blank space', () => {
    const crlf = parseClusterNodes(`\r\n${NODES.replace(/\n/g, '\r\n')}\r\n`);
    expect(crlf).toEqual(nodes);
  });

  it('returns an empty list for empty text', () => {
    expect(parseClusterNodes('')).toEqual([]);
    expect(parseClusterNodes('\n')).toEqual([]);
  });
});
