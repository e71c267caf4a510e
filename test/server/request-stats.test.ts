// etcd 3.5's "request stats" rule (src/v3rpc/request-stats.ts): at debug level every
// unary call is logged at debug; otherwise only a call slower than
// --warning-unary-request-duration, as a warning; a failed or non-KV call has -1 figures.
import { describe, expect, it } from 'vitest';
import { captureLogger, type Logged } from '../helpers/capture-logger.js';
import { logRequestStats, unaryRequestStats } from '../../src/v3rpc/request-stats.js';


const put = { key: Buffer.from('k'), value: Buffer.from('vv') };
const call = (tookMs: number) => ({
  path: '/etcdserverpb.KV/Put',
  startMs: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
  tookMs,
  remote: () => '127.0.0.1:5000',
  request: put,
  response: { header: { revision: 2 } },
});

describe('request stats', () => {
  it("asks for the client's address only for a line it writes", () => {
    let asked = 0;
    const remote = (): string => {
      asked++;
      return '127.0.0.1:5000';
    };
    const log = captureLogger([]);
    logRequestStats(log, false, 300, { ...call(299), remote });
    expect(asked).toBe(0);
    logRequestStats(log, false, 300, { ...call(301), remote });
    expect(asked).toBe(1);
  });

  it('warns only above the threshold; at debug level logs every call at debug', () => {
    const logged: Logged[] = [];
    const log = captureLogger(logged);
    logRequestStats(log, false, 300, call(299));
    logRequestStats(log, false, 300, call(300));
    expect(logged).toEqual([]);
    logRequestStats(log, false, 300, call(301.5));
    logRequestStats(log, true, 300, call(1));
    expect(logged.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'request stats'],
      ['debug', 'request stats'],
    ]);
    expect(logged[0]?.fields).toEqual({
      'start time': '2026-01-02T03:04:05.006Z',
      'time spent': '301.5ms',
      remote: '127.0.0.1:5000',
      'response type': '/etcdserverpb.KV/Put',
      'request count': 1,
      'request size': 7,
      'response count': 0,
      'response size': 4,
      'request content': 'key:"k" value_size:2 ',
    });
  });

  it('a failed call or another service: -1 figures and no content', () => {
    const none = { 'request count': -1, 'request size': -1, 'response count': -1, 'response size': -1, 'request content': '' };
    expect(unaryRequestStats('/etcdserverpb.KV/Put', put, undefined)).toEqual(none);
    expect(unaryRequestStats('/etcdserverpb.Lease/LeaseGrant', { TTL: 5 }, { TTL: 5 })).toEqual(none);
  });
});
