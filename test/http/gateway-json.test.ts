// The gateway's JSON side without processes: the route table against etcd 3.4's
// generated gateway files, Go's JSON syntax messages, jsonpb's mapping both ways and
// Go's base64 error positions. Expected texts are what etcd 3.4.23's gateway answered
// for the same bodies (the differential test in test/integration/gateway.test.ts
// replays a share of them against the real etcd).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { codec } from '../../src/shared/pb-codec.js';
import { GATEWAY_ROUTES } from '../../src/http/gateway.js';
import { decodeBase64Go, fromJson, JsonMappingError, messageType, toJson } from '../../src/http/gateway-json.js';
import { goQuote, readValue, type JsonValue } from '../../src/http/go-json.js';
import { requireFile } from '../helpers/require-tool.js';

const GW = '/usr/share/gocode/src/go.etcd.io/etcd/etcdserver';
const GW_FILES = [
  `${GW}/etcdserverpb/gw/rpc.pb.gw.go`,
  `${GW}/api/v3lock/v3lockpb/gw/v3lock.pb.gw.go`,
  `${GW}/api/v3election/v3electionpb/gw/v3election.pb.gw.go`,
];
/** Routes etcd 3.5 added after 3.4 (rpc.proto's AuthStatus and Downgrade). */
const SINCE_35 = ['/v3/auth/status', '/v3/maintenance/downgrade'];

function parse(text: string): JsonValue {
  const r = readValue(text, 0, true);
  if (r.kind !== 'value') throw new Error(`not a value: ${JSON.stringify(r)}`);
  return r.value;
}

function mappingError(type: string, body: string): string {
  try {
    const r = readValue(body, 0, true);
    if (r.kind === 'error') return r.message;
    fromJson(messageType(type), r.kind === 'value' ? r.value : undefined);
    return 'no error';
  } catch (err) {
    expect(err).toBeInstanceOf(JsonMappingError);
    return (err as Error).message;
  }
}

describe('gateway routes', () => {
  it('are etcd 3.4 gateway patterns, each to the RPC etcd registers, plus 3.5 additions', (ctx) => {
    for (const f of GW_FILES) requireFile(ctx, f, "etcd 3.4's generated gateway (golang-etcd-server-dev)");
    const theirs = new Map<string, string>();
    for (const f of GW_FILES) {
      const src = readFileSync(f, 'utf8');
      // NewPattern(version, ops, pool, verb): ops are (code, operand) pairs; code 2
      // (OpLitPush) pushes pool[operand], so a literal may repeat (/v3/lock/lock).
      for (const m of src.matchAll(/pattern_(\w+?)_(\w+)_\d+ = runtime\.MustPattern\(runtime\.NewPattern\(1, \[\]int\{([^}]*)\}, \[\]string\{([^}]*)\}/g)) {
        const ops = (m[3] ?? '').split(',').map((s) => Number(s.trim()));
        const pool = (m[4] ?? '').split(',').map((s) => s.trim().replace(/"/g, ''));
        const segments: string[] = [];
        for (let i = 0; i < ops.length; i += 2) {
          expect(ops[i], `${m[0]}: only literal segments`).toBe(2);
          segments.push(pool[ops[i + 1] ?? 0] ?? '');
        }
        const path = `/${segments.join('/')}`;
        const service = m[1] ?? '';
        const pkgName = service === 'Lock' ? 'v3lockpb' : service === 'Election' ? 'v3electionpb' : 'etcdserverpb';
        if (!theirs.has(path)) theirs.set(path, `/${pkgName}.${service}/${m[2] ?? ''}`);
      }
    }
    expect(theirs.size).toBeGreaterThan(45);
    const ours = new Map(GATEWAY_ROUTES);
    for (const p of SINCE_35) ours.delete(p);
    expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(theirs));
  });
});

describe('Go JSON syntax errors', () => {
  const cases: Array<[string, string]> = [
    ['{"key":"Zm9v",bad', "invalid character 'b' looking for beginning of object key string"],
    ['{"create_request":{"key":"Zm9v"}', 'unexpected EOF'],
    ['x', "invalid character 'x' looking for beginning of value"],
    ['{"a" 1}', "invalid character '1' after object key"],
    ['{"a":1 "b"}', "invalid character '\"' after object key:value pair"],
    ['[1 2]', "invalid character '2' after array element"],
    ['{"a":tru}', "invalid character '}' in literal true (expecting 'e')"],
    ['{"a":-x}', "invalid character 'x' in numeric literal"],
    ['{"a":"\\q"}', "invalid character 'q' in string escape code"],
    ['{"a":"\n"}', "invalid character '\\n' in string literal"],
  ];
  it.each(cases)('%s', (body, message) => {
    expect(readValue(body, 0, true)).toEqual({ kind: 'error', message });
  });

  it('reads values one after another and reports the end', () => {
    const text = ' {"a":1} {"b":[true,null]}  ';
    const first = readValue(text, 0, true);
    expect(first.kind).toBe('value');
    const second = readValue(text, first.kind === 'value' ? first.end : 0, true);
    expect(second).toMatchObject({ kind: 'value', value: { t: 'object' } });
    expect(readValue(text, second.kind === 'value' ? second.end : 0, true)).toEqual({ kind: 'end' });
    expect(readValue('{"a":', 0, false)).toEqual({ kind: 'incomplete' });
  });

  it('keeps big integers exact and escapes strings as Go', () => {
    expect(parse('18446744073709551615')).toEqual({ t: 'number', raw: '18446744073709551615' });
    expect(goQuote('<a&b>\u2028"\\\n\u0001')).toBe('"\\u003ca\\u0026b\\u003e\\u2028\\"\\\\\\n\\u0001"');
  });
});

describe('jsonpb mapping', () => {
  it('writes original names, int64 as strings, bytes as base64, enums by name, no defaults', () => {
    const res = codec('etcdserverpb.WatchResponse').encode({
      header: { clusterId: '18446744073709551615', revision: 7, raftTerm: 2 },
      created: false,
      events: [
        { type: 1, kv: { key: Buffer.from('foo'), modRevision: 7, value: Buffer.alloc(0) } },
        { type: 0, kv: { key: Buffer.from('<'), createRevision: 3, modRevision: 3, version: 1, value: Buffer.from('x') } },
      ],
    });
    expect(toJson(messageType('etcdserverpb.WatchResponse'), res)).toBe(
      '{"header":{"cluster_id":"18446744073709551615","revision":"7","raft_term":"2"},"events":[' +
        '{"type":"DELETE","kv":{"key":"Zm9v","mod_revision":"7"}},' +
        '{"kv":{"key":"PA==","create_revision":"3","mod_revision":"3","version":"1","value":"eA=="}}]}',
    );
    // A present but empty message is {}, as Go's non-nil pointer; uint32 is a number.
    const txn = codec('etcdserverpb.TxnResponse').encode({ responses: [{ responseRange: {} }] });
    expect(toJson(messageType('etcdserverpb.TxnResponse'), txn)).toBe('{"responses":[{"response_range":{}}]}');
    const hash = codec('etcdserverpb.HashResponse').encode({ hash: 3055563500 });
    expect(toJson(messageType('etcdserverpb.HashResponse'), hash)).toBe('{"hash":3055563500}');
  });

  it('reads original or camel names, quoted or bare integers, enum names or numbers', () => {
    const bytes = fromJson(
      messageType('etcdserverpb.RangeRequest'),
      parse('{"key":"YQ==","rangeEnd":"Yg==","limit":"5","revision":3,"sort_order":"DESCEND","sort_target":2,"unknown":1}'),
    );
    const req = codec<Record<string, unknown>>('etcdserverpb.RangeRequest').decode(bytes);
    expect(Buffer.from(req['key'] as Uint8Array).toString()).toBe('a');
    expect(Buffer.from(req['rangeEnd'] as Uint8Array).toString()).toBe('b');
    expect(String(req['limit'])).toBe('5');
    expect(String(req['revision'])).toBe('3');
    expect(req['sortOrder']).toBe(2);
    expect(req['sortTarget']).toBe(2);
    const txn = fromJson(
      messageType('etcdserverpb.TxnRequest'),
      parse('{"compare":[{"target":"VALUE","result":"NOT_EQUAL","key":"YQ==","value":"eA=="}],"success":[{"request_put":{"key":"YQ==","value":"eQ=="}}]}'),
    );
    const t = codec<{ compare: Array<Record<string, unknown>>; success: Array<Record<string, unknown>> }>('etcdserverpb.TxnRequest').decode(txn);
    expect(t.compare[0]?.['target']).toBe(3);
    expect(t.compare[0]?.['result']).toBe(3);
    expect(t.success[0]?.['requestPut']).toBeTruthy();
  });

  it("refuses as jsonpb does, with Go's messages", () => {
    const range = 'etcdserverpb.RangeRequest';
    expect(mappingError(range, '{"sort_order":"BOGUS"}')).toBe('unknown value "BOGUS" for enum etcdserverpb.RangeRequest_SortOrder');
    expect(mappingError(range, '{"key":"not base64!"}')).toBe('illegal base64 data at input byte 3');
    expect(mappingError(range, '[]')).toBe('json: cannot unmarshal array into Go value of type map[string]json.RawMessage');
    expect(mappingError(range, '{"key":5}')).toBe('json: cannot unmarshal number into Go value of type []uint8');
    expect(mappingError(range, '{"limit":"x"}')).toBe("invalid character 'x' looking for beginning of value");
    expect(mappingError(range, '{"limit":1.5}')).toBe('json: cannot unmarshal number 1.5 into Go value of type int64');
    expect(mappingError(range, '{"keys_only":"yes"}')).toBe('json: cannot unmarshal string into Go value of type bool');
    expect(mappingError('etcdserverpb.TxnRequest', '{"compare":{}}')).toBe('json: cannot unmarshal object into Go value of type []json.RawMessage');
    expect(mappingError(range, '')).toBe('no error');
    expect(mappingError(range, 'null')).toBe('no error');
  });

  it("finds base64 errors where Go's decoder does", () => {
    expect(decodeBase64Go('Zm9v').toString()).toBe('foo');
    expect(decodeBase64Go('Zm9\nv').toString()).toBe('foo');
    expect(decodeBase64Go('YQ==').toString()).toBe('a');
    const at = (s: string): string => {
      try {
        decodeBase64Go(s);
        return 'ok';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(at('YQ')).toBe('illegal base64 data at input byte 0');
    expect(at('Zm9vYQ')).toBe('illegal base64 data at input byte 4');
    expect(at('Y===')).toBe('illegal base64 data at input byte 1');
    expect(at('YQ=x')).toBe('illegal base64 data at input byte 2');
    expect(at('YQ==YQ==')).toBe('illegal base64 data at input byte 4');
    expect(at('Zm9v-')).toBe('illegal base64 data at input byte 4');
  });
});
