// Requests in etcd's log text (src/apply/loggable.ts): golang/protobuf's compact text
// with etcd's redactions. Expected strings are what etcd 3.4.23 writes for the same
// messages (the integration test slow-request-logs compares live lines with etcd's).
import { describe, expect, it } from 'vitest';
import { compactText, loggableEntry, loggablePut, loggableTxn } from '../../src/apply/loggable.js';
import { RequestKind } from '../../src/apply/request.js';
import type * as pb from '../../src/generated/pb.js';
import { codec } from '../../src/shared/pb-codec.js';

const decode = <T>(name: string, msg: object): T => {
  const c = codec<T>(`etcdserverpb.${name}`);
  return c.decode(c.encode(msg as T));
};

describe('requests as etcd logs them', () => {
  it('compact text: field order, defaults left out, enums by name, octal escapes', () => {
    const range = decode<pb.RangeRequest>('RangeRequest', {
      key: Buffer.from('a"b\\\n\x01é'),
      rangeEnd: Buffer.from('z'),
      limit: 5,
      sortOrder: 2,
      sortTarget: 3,
      serializable: true,
    });
    expect(compactText('etcdserverpb.RangeRequest', range)).toBe(
      'key:"a\\"b\\\\\\n\\001\\303\\251" range_end:"z" limit:5 sort_order:DESCEND sort_target:MOD serializable:true ',
    );
    expect(compactText('etcdserverpb.RangeRequest', decode('RangeRequest', {}))).toBe('');
  });

  it('puts and value comparisons show sizes, not values; a set oneof member shows even at zero', () => {
    expect(loggablePut(decode('PutRequest', { key: Buffer.from('k'), value: Buffer.from('secret'), lease: 7, prevKv: true }))).toBe(
      'key:"k" value_size:6 lease:7 prev_kv:true ',
    );
    const txn = decode<pb.TxnRequest>('TxnRequest', {
      compare: [
        { target: 3, key: Buffer.from('k'), value: Buffer.from('v1') },
        { result: 1, target: 0, key: Buffer.from('k'), version: 0 },
      ],
      success: [{ requestPut: { key: Buffer.from('k'), value: Buffer.from('v2') } }],
      failure: [{ requestRange: { key: Buffer.from('k') } }],
    });
    expect(loggableTxn(txn)).toBe(
      // etcd joins the comparisons' own texts inside one compare:<...>.
      'compare:<target:VALUE key:"k" value_size:2  result:GREATER key:"k" version:0 > ' +
        'success:<request_put:<key:"k" value_size:2 >> failure:<request_range:<key:"k" > >',
    );
  });

  it('entries carry the header with the request id; leases in hex', () => {
    const put = codec<pb.PutRequest>('etcdserverpb.PutRequest').encode({ key: Buffer.from('foo'), value: Buffer.from('bar') });
    expect(loggableEntry({ kind: RequestKind.Put, id: 42n, payload: put })).toBe('header:<ID:42 > put:<key:"foo" value_size:3 >');
    const grant = codec<pb.LeaseGrantRequest>('etcdserverpb.LeaseGrantRequest').encode({ TTL: 60, ID: 0x1234 });
    expect(loggableEntry({ kind: RequestKind.LeaseGrant, id: 1n, payload: grant })).toBe(
      'header:<ID:1 > lease_grant:<ttl:60-second id:0000000000001234>',
    );
    expect(loggableEntry({ kind: RequestKind.Noop, id: 1n, payload: new Uint8Array() })).toBeUndefined();
  });
});
