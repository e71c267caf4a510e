/**
 * Bad input: requests etcd rejects, each sent to tsetcd (the
 * subject; TSETCD_TARGET=etcd: a real etcd) and to a real etcd 3.4.23 (the oracle),
 * both started with a small max-request-bytes (4096) so that both size regimes are
 * cheap to reach. Every answer must be etcd's exact gRPC code and message, asserted
 * literally on both servers (so the expectation itself is checked against etcd), and
 * after every case both members must still serve a put and a get.
 *
 * Exceptions, each explained where it is tested: unknown sort options (3.4.23 does
 * not validate them; the subject must answer as 3.5+ does), and the gRPC framing
 * oddities at the end, where only the protobuf decoding failures must match etcd
 * (code INTERNAL, grpc-go's message prefix) and the rest must merely not hurt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as pb from '../../src/generated/pb.js';
import type { EtcdGrpcClient, Reply } from '../helpers/grpc-client.js';
import { connectMember, expectOk, methodDefinition } from '../helpers/grpc-client.js';
import { normaliseReply } from '../helpers/kv-normalise.js';
import type { Member } from '../helpers/processes.js';
import {
  dumpMemberLogsOnFailure,
  startMember,
  stopAllMembers,
  targetFromEnv,
} from '../helpers/processes.js';
import { grpcFrame, rawGrpcCall } from '../helpers/raw-grpc.js';

const MAX_REQUEST_BYTES = 4096;
/** etcd's gRPC server limit: MaxRecvMsgSize = max-request-bytes + 512 KiB (grpcOverheadBytes). */
const GRPC_RECV_LIMIT = MAX_REQUEST_BYTES + 512 * 1024;
const MAX_TXN_OPS = 128; // etcd's default, left unset in the config

interface Side {
  readonly label: string;
  readonly member: Member;
  readonly client: EtcdGrpcClient;
}

const target = targetFromEnv();
let subject: Side;
let oracle: Side;
let uniq = 0;

beforeAll(async () => {
  const extraConfig = { 'max-request-bytes': MAX_REQUEST_BYTES };
  const [s, o] = await Promise.all([
    startMember({ target, name: 'subject', extraConfig }),
    startMember({ target: 'etcd', name: 'oracle', extraConfig }),
  ]);
  // grpc-js's own send limit must not get in the way of oversized requests.
  const channelOptions = { 'grpc.max_send_message_length': 64 << 20 };
  subject = { label: target, member: s, client: connectMember(s, { channelOptions }) };
  oracle = { label: 'etcd 3.4.23', member: o, client: connectMember(o, { channelOptions }) };
}, 60_000);
afterAll(async () => {
  subject?.client.close();
  oracle?.client.close();
  await stopAllMembers();
}, 30_000);
dumpMemberLogsOnFailure();

const E = (details: string, code = 'INVALID_ARGUMENT'): unknown => ({ error: code, details });
const KEY_NOT_PROVIDED = E('etcdserver: key is not provided');
const TOO_LARGE = E('etcdserver: request is too large');
const TOO_MANY_OPS = E('etcdserver: too many operations in txn request');
const DUPLICATE = E('etcdserver: duplicate key given in txn request');
const FUTURE = E('etcdserver: mvcc: required revision is a future revision', 'OUT_OF_RANGE');
const COMPACTED = E('etcdserver: mvcc: required revision has been compacted', 'OUT_OF_RANGE');
const INVALID_SORT = E('etcdserver: invalid sort option');

const b = (s: string): Buffer => Buffer.from(s);
const view = (r: Reply<unknown>): unknown => normaliseReply(r, { base: 0 });
const isOk = (r: Reply<unknown>): boolean => r.ok;

/** A put and a get of a fresh key work: the member survived the previous request. */
async function assertServing(side: Side): Promise<void> {
  const key = b(`alive/${uniq++}`);
  expectOk(await side.client.put({ key, value: b('v') }), `put on ${side.label} after bad input`);
  const got = expectOk(await side.client.range({ key }), `get on ${side.label} after bad input`);
  expect(got.kvs?.[0]?.value, `${side.label} still serves`).toEqual(b('v'));
}

/**
 * Sends the request made by `call` to both servers and checks each answer with
 * `expected` (an exact normalised error, or a predicate for successes).
 */
async function check(
  what: string,
  call: (c: EtcdGrpcClient, side: Side) => Promise<Reply<unknown>>,
  expected: unknown,
): Promise<void> {
  for (const side of [subject, oracle]) {
    const reply = await call(side.client, side);
    if (typeof expected === 'function') {
      expect(
        (expected as (r: Reply<unknown>) => boolean)(reply),
        `${what} on ${side.label}: ${JSON.stringify(view(reply))}`,
      ).toBe(true);
    } else {
      expect(view(reply), `${what} on ${side.label}`).toEqual(expected);
    }
    await assertServing(side);
  }
}

async function currentRevision(side: Side): Promise<number> {
  return Number(expectOk(await side.client.range({ key: b('rev-probe') })).header?.revision);
}

const puts = (n: number, prefix: string): object[] =>
  Array.from({ length: n }, (_, i) => ({
    requestPut: { key: b(`${prefix}/${i}`), value: b('v') },
  }));

describe(`bad input, ${target} and etcd 3.4.23, max-request-bytes ${MAX_REQUEST_BYTES}`, () => {
  it('empty keys and other invalid requests get "key is not provided" and friends', async () => {
    await check('Range empty key', (c) => c.range({ key: b('') }), KEY_NOT_PROVIDED);
    await check(
      'Range empty key, range_end \\0',
      (c) => c.range({ key: b(''), rangeEnd: Buffer.from([0]) }),
      KEY_NOT_PROVIDED,
    );
    await check('Put empty key', (c) => c.put({ key: b(''), value: b('v') }), KEY_NOT_PROVIDED);
    await check('DeleteRange empty key', (c) => c.deleteRange({ key: b('') }), KEY_NOT_PROVIDED);
    await check(
      'Txn compare with empty key',
      (c) => c.txn({ compare: [{ key: b(''), target: 0, result: 0, version: 0 }] }),
      KEY_NOT_PROVIDED,
    );
    await check(
      'Txn put with empty key',
      (c) => c.txn({ success: [{ requestPut: { key: b(''), value: b('v') } }] }),
      KEY_NOT_PROVIDED,
    );
    await check(
      'Txn with an empty RequestOp',
      (c) => c.txn({ success: [{}] }),
      E('etcdserver: key not found'),
    );
    await check(
      'Put ignore_value with a value',
      (c) => c.put({ key: b('k'), value: b('v'), ignoreValue: true }),
      E('etcdserver: value is provided'),
    );
    await check(
      'Put ignore_lease with a lease',
      (c) => c.put({ key: b('k'), lease: 7, ignoreLease: true }),
      E('etcdserver: lease is provided'),
    );
    await check(
      'Put ignore_value on a missing key',
      (c) => c.put({ key: b('missing'), ignoreValue: true }),
      E('etcdserver: key not found'),
    );
    await check(
      'Put with an unknown lease',
      (c) => c.put({ key: b('k'), value: b('v'), lease: 12345 }),
      E('etcdserver: requested lease not found', 'NOT_FOUND'),
    );
  });

  it('over max-request-bytes: InvalidArgument up to +512 KiB, then ResourceExhausted', async () => {
    const serialize = methodDefinition('KV', 'Put').requestSerialize;
    /** A Put whose encoded size is exactly `bytes`. */
    const putOfSize = (bytes: number): { key: Buffer; value: Buffer } => {
      let value = bytes - 7; // 3 bytes of key field, tag and a 3-byte length of the value field
      for (;;) {
        const req = { key: b('k'), value: Buffer.alloc(value, 0x61) };
        const size = serialize(req).length;
        if (size === bytes) return req;
        value += bytes - size;
      }
    };
    await check(
      'Put just under max-request-bytes',
      (c) => c.put(putOfSize(MAX_REQUEST_BYTES - 100)),
      isOk,
    );
    await check(
      'Put of max-request-bytes + 6',
      (c) => c.put(putOfSize(MAX_REQUEST_BYTES + 6)),
      TOO_LARGE,
    );
    await check(
      'Put at the gRPC limit exactly',
      (c) => c.put(putOfSize(GRPC_RECV_LIMIT)),
      TOO_LARGE,
    );
    await check(
      'Put one byte over the gRPC limit',
      (c) => c.put(putOfSize(GRPC_RECV_LIMIT + 1)),
      E(
        `grpc: received message larger than max (${GRPC_RECV_LIMIT + 1} vs. ${GRPC_RECV_LIMIT})`,
        'RESOURCE_EXHAUSTED',
      ),
    );
    await check(
      'Put of 600007 bytes',
      (c) => c.put(putOfSize(600_007)),
      E(
        `grpc: received message larger than max (600007 vs. ${GRPC_RECV_LIMIT})`,
        'RESOURCE_EXHAUSTED',
      ),
    );
    await check(
      'Txn with a large put',
      (c) => c.txn({ success: [{ requestPut: { key: b('t'), value: Buffer.alloc(5000) } }] }),
      TOO_LARGE,
    );
    // A Range is never proposed through raft, so only the gRPC limit applies to it.
    await check(
      'Range with a 10000-byte key',
      (c) => c.range({ key: Buffer.alloc(10_000, 0x62) }),
      isOk,
    );
    await check(
      'Range with a 600000-byte key',
      (c) => c.range({ key: Buffer.alloc(600_000, 0x62) }),
      E(
        `grpc: received message larger than max (600004 vs. ${GRPC_RECV_LIMIT})`,
        'RESOURCE_EXHAUSTED',
      ),
    );
  });

  it(`txns over max-txn-ops (${MAX_TXN_OPS}), including the nested budget`, async () => {
    await check('Txn with 128 puts', (c) => c.txn({ success: puts(MAX_TXN_OPS, 'ops-a') }), isOk);
    await check(
      'Txn with 129 puts',
      (c) => c.txn({ success: puts(MAX_TXN_OPS + 1, 'ops-b') }),
      TOO_MANY_OPS,
    );
    await check(
      'Txn with 129 failure ops',
      (c) => c.txn({ failure: puts(MAX_TXN_OPS + 1, 'ops-c') }),
      TOO_MANY_OPS,
    );
    const compares: pb.Compare[] = Array.from({ length: MAX_TXN_OPS + 1 }, (_, i) => ({
      key: b(`cmp/${i}`),
      target: 0,
      result: 0,
      version: 0,
    }));
    await check('Txn with 129 compares', (c) => c.txn({ compare: compares }), TOO_MANY_OPS);
    // A nested txn may use max-txn-ops minus the outer txn's op count (100 here): 28.
    const nested = (n: number, prefix: string): object => ({
      success: [
        ...puts(99, `${prefix}/outer`),
        { requestTxn: { success: puts(n, `${prefix}/inner`) } },
      ],
    });
    await check('nested txn within the budget (100 + 28)', (c) => c.txn(nested(28, 'ops-d')), isOk);
    await check(
      'nested txn over the budget (100 + 29)',
      (c) => c.txn(nested(29, 'ops-e')),
      TOO_MANY_OPS,
    );
  });

  it('duplicate keys in a txn', async () => {
    const put = (k: string): object => ({ requestPut: { key: b(k), value: b('v') } });
    const del = (k: string, end?: Buffer): object => ({
      requestDeleteRange: { key: b(k), ...(end === undefined ? {} : { rangeEnd: end }) },
    });
    const txn = (success: object[], failure: object[] = []): object => ({
      requestTxn: { success, failure },
    });
    await check(
      'two puts of one key',
      (c) => c.txn({ success: [put('dup/a'), put('dup/a')] }),
      DUPLICATE,
    );
    await check(
      'put and delete of one key',
      (c) => c.txn({ success: [put('dup/a'), del('dup/a')] }),
      DUPLICATE,
    );
    await check(
      'put inside a deleted range',
      (c) => c.txn({ success: [del('dup/a', b('dup/c')), put('dup/b')] }),
      DUPLICATE,
    );
    await check(
      'duplicate only in failure',
      (c) => c.txn({ success: [put('dup/a')], failure: [put('dup/b'), put('dup/b')] }),
      DUPLICATE,
    );
    await check(
      'put in nested txn under an outer delete',
      (c) => c.txn({ success: [del('dup/a'), txn([put('dup/a')])] }),
      DUPLICATE,
    );
    await check(
      'put in outer txn and in a nested txn',
      (c) => c.txn({ success: [put('dup/a'), txn([put('dup/a')])] }),
      DUPLICATE,
    );
    await check(
      'two overlapping deletes are fine',
      (c) => c.txn({ success: [del('dup/a', b('dup/c')), del('dup/b')] }),
      isOk,
    );
    await check(
      'same key in then and else of one nested txn is fine',
      (c) => c.txn({ success: [txn([put('dup/a')], [put('dup/a')])] }),
      isOk,
    );
    await check(
      'same key in the two branches of the top txn is fine',
      (c) => c.txn({ success: [put('dup/a')], failure: [put('dup/a')] }),
      isOk,
    );
    // etcd's interval check sees [key, "\0") as empty, so a from-key delete conflicts with nothing.
    await check(
      'put after a from-key ("\\0") delete is not a duplicate',
      (c) => c.txn({ success: [del('dup/a', Buffer.from([0])), put('dup/b')] }),
      isOk,
    );
  });

  it('future revisions', async () => {
    await check(
      'Range at current + 1',
      async (c, side) => c.range({ key: b('k'), revision: (await currentRevision(side)) + 1 }),
      FUTURE,
    );
    await check(
      'Range at current',
      async (c, side) => c.range({ key: b('k'), revision: await currentRevision(side) }),
      isOk,
    );
    await check(
      'Txn range at current + 1',
      async (c, side) =>
        c.txn({
          success: [{ requestRange: { key: b('k'), revision: (await currentRevision(side)) + 1 } }],
        }),
      FUTURE,
    );
    await check(
      'Compact at current + 1',
      async (c, side) => c.compact({ revision: (await currentRevision(side)) + 1 }),
      FUTURE,
    );
    await check(
      'HashKV at current + 1',
      async (c, side) => c.hashKV({ revision: (await currentRevision(side)) + 1 }),
      FUTURE,
    );
  });

  it('compacted revisions', async () => {
    const compactedAt = new Map<string, number>();
    await check(
      'Compact at current',
      async (c, side) => {
        expectOk(await c.put({ key: b('cmp/k'), value: b('1') }));
        expectOk(await c.put({ key: b('cmp/k'), value: b('2') }));
        const at = await currentRevision(side);
        compactedAt.set(side.label, at);
        return c.compact({ revision: at, physical: true });
      },
      isOk,
    );
    const at = (side: Side): number => compactedAt.get(side.label) ?? 0;
    await check(
      'Range below the compaction',
      (c, side) => c.range({ key: b('cmp/k'), revision: at(side) - 1 }),
      COMPACTED,
    );
    await check(
      'Range at the compaction',
      (c, side) => c.range({ key: b('cmp/k'), revision: at(side) }),
      isOk,
    );
    await check(
      'Txn range below the compaction',
      (c, side) =>
        c.txn({ success: [{ requestRange: { key: b('cmp/k'), revision: at(side) - 1 } }] }),
      COMPACTED,
    );
    await check(
      'Compact again at the compaction',
      (c, side) => c.compact({ revision: at(side) }),
      COMPACTED,
    );
    await check(
      'Compact below the compaction',
      (c, side) => c.compact({ revision: at(side) - 1 }),
      COMPACTED,
    );
    await check(
      'HashKV below the compaction',
      (c, side) => c.hashKV({ revision: at(side) - 1 }),
      COMPACTED,
    );
  });

  it('invalid sort options (3.5+ rejects them; 3.4.23 does not validate them)', async () => {
    // Known difference (see differential.test.ts, difference 3): etcd 3.4.23 ignores an
    // unknown sort_order and crashes on an unknown sort_target (etcd #13554), so only
    // the harmless one goes to the oracle, to pin down that 3.4 behaviour.
    const unknownOrder: pb.RangeRequest = {
      key: b('k'),
      sortOrder: 3 as pb.RangeRequest_SortOrder,
    };
    expect(
      view(await oracle.client.range(unknownOrder)),
      'etcd 3.4.23 ignores sort_order 3',
    ).toMatchObject({ count: expect.any(String) });
    await assertServing(oracle);
    if (target === 'etcd') return; // the cases below would crash a 3.4 subject
    const cases: Array<[string, object]> = [
      ['sort_order 3', unknownOrder],
      ['sort_order -1', { key: b('k'), sortOrder: -1 }],
      ['sort_target 5', { key: b('k'), sortTarget: 5 }],
      ['sort_target 5 with ASCEND', { key: b('k'), sortOrder: 1, sortTarget: 5 }],
    ];
    for (const [what, req] of cases) {
      expect(view(await subject.client.range(req)), `Range with ${what}`).toEqual(INVALID_SORT);
      expect(
        view(await subject.client.txn({ success: [{ requestRange: req }] })),
        `Txn range with ${what}`,
      ).toEqual(INVALID_SORT);
      await assertServing(subject);
    }
    expect(
      view(await subject.client.range({ ...unknownOrder, key: b('') })),
      'the key is checked first',
    ).toEqual(KEY_NOT_PROVIDED);
  });

  it('malformed protobuf in a raw gRPC message: INTERNAL, unmarshalling error', async () => {
    const malformed: Array<[string, Buffer]> = [
      ['a truncated varint', Buffer.from([0xff, 0xff, 0xff, 0xff])],
      ['a field with a group wire type', Buffer.from([0x0b, 0x01])],
      ['a length past the end', Buffer.from([0x0a, 0x10, 0x61])],
    ];
    for (const [what, payload] of malformed) {
      for (const side of [subject, oracle]) {
        const r = await rawGrpcCall(
          side.member.clientUrl,
          '/etcdserverpb.KV/Range',
          grpcFrame(payload),
        );
        expect(r.transportError, `${what} on ${side.label}`).toBeUndefined();
        expect(r.grpcStatus, `${what} on ${side.label}: ${String(r.grpcMessage)}`).toBe(13);
        // The rest of the message is the protobuf library's own text (Go's vs protobufjs').
        expect(r.grpcMessage, `${what} on ${side.label}`).toMatch(
          /^grpc: error unmarshalling request: /,
        );
        await assertServing(side);
      }
    }
  });

  it('gRPC framing oddities leave the member serving (codes compared, not required)', async () => {
    const ok = Buffer.from([0x0a, 0x01, 0x61]); // RangeRequest{key: "a"}
    const oddities: Array<[string, Buffer]> = [
      ['a length prefix longer than the body', grpcFrame(ok, { declaredLength: 10 })],
      ['the compressed flag without grpc-encoding', grpcFrame(ok, { compressed: true })],
      ['two messages to a unary method', Buffer.concat([grpcFrame(ok), grpcFrame(ok)])],
      ['no message at all', Buffer.alloc(0)],
    ];
    const differences: string[] = [];
    for (const [what, body] of oddities) {
      const answers = [];
      for (const side of [subject, oracle]) {
        const r = await rawGrpcCall(side.member.clientUrl, '/etcdserverpb.KV/Range', body);
        expect(r.grpcStatus, `${what} on ${side.label}: ${r.transportError ?? ''}`).toBeTypeOf(
          'number',
        );
        answers.push(
          `${side.label}: ${String(r.grpcStatus)} ${JSON.stringify(r.grpcMessage ?? '')}`,
        );
        await assertServing(side);
      }
      if (answers[0]?.split(': ')[1]?.split(' ')[0] !== answers[1]?.split(': ')[1]?.split(' ')[0])
        differences.push(`${what}: ${answers.join(' | ')}`);
    }
    if (differences.length > 0)
      console.log(
        `gRPC framing: status codes that differ from etcd's:\n  ${differences.join('\n  ')}`,
      );
    const unknown = await rawGrpcCall(
      subject.member.clientUrl,
      '/etcdserverpb.KV/Nope',
      grpcFrame(ok),
    );
    expect([unknown.grpcStatus, unknown.grpcMessage]).toEqual([
      12,
      'unknown method Nope for service etcdserverpb.KV',
    ]);
  });
});
