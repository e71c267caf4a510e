// Proto fidelity: tsetcd's proto/ must describe the same wire as etcd.
// The reference is etcd 3.4.23's own protos from Debian's golang-etcd-server-dev
// (rpc.proto, kv.proto, auth.proto, and v3election/v3lock, which the package also
// ships). Every message, field (name, number, type, label, packing, oneof), enum value,
// service and method (types, streaming flags) must match exactly. Ours may carry more
// only where listed in ADDITIONS_SINCE_3_4, each entry an exact fact etcd 3.5/3.6
// added (numbers from etcd's api/etcdserverpb/rpc.proto, whose version annotations
// mark each field's release). Without the Debian package the test fails (CI installs it).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import type { Root } from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { DEBIAN_INSTALL_HINT, loadDebianProtos } from './debian.js';
import { describeRoot } from './describe.js';
import { loadOurProtos, PROTO_DIR, PROTO_FILES } from './protos.js';

/**
 * The only entries ours may have beyond etcd 3.4 (keys and values as in describe.ts).
 * Nothing else may be added, and every entry here must be present in ours.
 */
const ADDITIONS_SINCE_3_4: ReadonlyArray<readonly [key: string, value: string]> = [
  // 3.5: Downgrade RPC (etcdctl downgrade validate/enable/cancel).
  ['method etcdserverpb.Maintenance.Downgrade', 'etcdserverpb.DowngradeRequest -> etcdserverpb.DowngradeResponse reqStream=false resStream=false'],
  ['message etcdserverpb.DowngradeRequest', ''],
  ['field etcdserverpb.DowngradeRequest.action', '1 singular etcdserverpb.DowngradeRequest.DowngradeAction'],
  ['field etcdserverpb.DowngradeRequest.version', '2 singular string'],
  ['enum etcdserverpb.DowngradeRequest.DowngradeAction', ''],
  ['value etcdserverpb.DowngradeRequest.DowngradeAction.VALIDATE', '0'],
  ['value etcdserverpb.DowngradeRequest.DowngradeAction.ENABLE', '1'],
  ['value etcdserverpb.DowngradeRequest.DowngradeAction.CANCEL', '2'],
  ['message etcdserverpb.DowngradeResponse', ''],
  ['field etcdserverpb.DowngradeResponse.header', '1 singular etcdserverpb.ResponseHeader'],
  ['field etcdserverpb.DowngradeResponse.version', '2 singular string'],
  // 3.5: AuthStatus RPC (etcdctl auth status).
  ['method etcdserverpb.Auth.AuthStatus', 'etcdserverpb.AuthStatusRequest -> etcdserverpb.AuthStatusResponse reqStream=false resStream=false'],
  ['message etcdserverpb.AuthStatusRequest', ''],
  ['message etcdserverpb.AuthStatusResponse', ''],
  ['field etcdserverpb.AuthStatusResponse.header', '1 singular etcdserverpb.ResponseHeader'],
  ['field etcdserverpb.AuthStatusResponse.enabled', '2 singular bool'],
  ['field etcdserverpb.AuthStatusResponse.authRevision', '3 singular uint64'],
  // 3.5: the Go client >= 3.5 asks for linearizable member lists.
  ['field etcdserverpb.MemberListRequest.linearizable', '1 singular bool'],
  // 3.5: password hashed in the API layer before the proposal.
  ['field etcdserverpb.AuthUserAddRequest.hashedPassword', '4 singular string'],
  ['field etcdserverpb.AuthUserChangePasswordRequest.hashedPassword', '3 singular string'],
  // 3.6: extra Status fields (etcdctl 3.6 endpoint status shows them).
  ['field etcdserverpb.StatusResponse.storageVersion', '11 singular string'],
  ['field etcdserverpb.StatusResponse.dbSizeQuota', '12 singular int64'],
  ['field etcdserverpb.StatusResponse.downgradeInfo', '13 singular etcdserverpb.DowngradeInfo'],
  ['message etcdserverpb.DowngradeInfo', ''],
  ['field etcdserverpb.DowngradeInfo.enabled', '1 singular bool'],
  ['field etcdserverpb.DowngradeInfo.targetVersion', '2 singular string'],
  // 3.6: HashKV reports the revision it hashed up to.
  ['field etcdserverpb.HashKVResponse.hash_revision', '4 singular int64'],
  // 3.6: Snapshot chunks carry the server version that made the snapshot.
  ['field etcdserverpb.SnapshotResponse.version', '4 singular string'],
];

/** Every way `ours` differs from `reference` that ADDITIONS_SINCE_3_4 does not allow. */
function fidelityProblems(reference: Root, ours: Root): string[] {
  const ref = describeRoot(reference);
  const our = describeRoot(ours);
  const allowed = new Map(ADDITIONS_SINCE_3_4);
  const problems: string[] = [];
  for (const [key, value] of ref) {
    const mine = our.get(key);
    if (mine === undefined) problems.push(`missing: ${key} (etcd: ${JSON.stringify(value)})`);
    else if (mine !== value) problems.push(`differs: ${key}: etcd ${JSON.stringify(value)}, ours ${JSON.stringify(mine)}`);
  }
  for (const [key, value] of our) {
    if (ref.has(key)) continue;
    const expected = allowed.get(key);
    if (expected === undefined) problems.push(`not in etcd 3.4 and not an allowed addition: ${key} ${JSON.stringify(value)}`);
    else if (expected !== value) problems.push(`allowed addition differs: ${key}: expected ${JSON.stringify(expected)}, ours ${JSON.stringify(value)}`);
  }
  return problems;
}

function loadDebianOrExplain(): Root {
  try {
    return loadDebianProtos();
  } catch (err) {
    // Keep the install command in the failure message whatever went wrong.
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(msg.includes(DEBIAN_INSTALL_HINT) ? msg : `${msg} (needs: ${DEBIAN_INSTALL_HINT})`);
  }
}

/** Our protos with one textual edit to rpc.proto, to show the comparison notices it. */
function loadOursWithRpcEdit(from: string, to: string): Root {
  const root = new protobuf.Root();
  for (const file of PROTO_FILES) {
    let text = readFileSync(path.join(PROTO_DIR, file), 'utf8').replace(/^\s*import\s+"[^"]*";\s*$/gm, '');
    if (file === 'etcdserverpb/rpc.proto') {
      if (!text.includes(from)) throw new Error(`edit target not found: ${from}`);
      text = text.replace(from, to);
    }
    protobuf.parse(text, root, { keepCase: true });
  }
  root.resolveAll();
  return root;
}

describe('proto fidelity against etcd 3.4 (Debian golang-etcd-server-dev)', () => {
  it('matches etcd field by field, except the listed 3.5/3.6 additions', () => {
    const reference = loadDebianOrExplain();
    const ref = describeRoot(reference);
    // The reference must really be etcd's API, not an empty parse.
    expect(ref.get('service etcdserverpb.KV')).toBe('');
    expect(ref.get('field etcdserverpb.RangeRequest.max_create_revision')).toBe('13 singular int64');
    expect(ref.get('method v3lockpb.Lock.Lock')).toBeDefined();
    expect(ref.size).toBeGreaterThan(400);
    expect(fidelityProblems(reference, loadOurProtos(true))).toEqual([]);
  });

  it('fails (does not skip) with the apt-get command when the package is missing', () => {
    expect(() => loadDebianProtos('/nonexistent/go.etcd.io/etcd')).toThrow(
      /Debian's etcd 3\.4 protos are missing .*Install them with: apt-get install -y golang-etcd-server-dev/,
    );
  });

  it('every allowed addition is present in ours (the list is not stale)', () => {
    const our = describeRoot(loadOurProtos(true));
    const absent = ADDITIONS_SINCE_3_4.filter(([key, value]) => our.get(key) !== value).map(([key]) => key);
    expect(absent).toEqual([]);
  });

  it('notices a changed field number, a renamed field and a new unlisted field', () => {
    const reference = loadDebianOrExplain();
    expect(fidelityProblems(reference, loadOursWithRpcEdit('int64 revision = 4;\n  SortOrder', 'int64 revision = 14;\n  SortOrder'))).toContain(
      'differs: field etcdserverpb.RangeRequest.revision: etcd "4 singular int64", ours "14 singular int64"',
    );
    expect(fidelityProblems(reference, loadOursWithRpcEdit('bool keys_only = 8;', 'bool keysonly = 8;'))).toContain(
      'missing: field etcdserverpb.RangeRequest.keys_only (etcd: "8 singular bool")',
    );
    expect(fidelityProblems(reference, loadOursWithRpcEdit('bool physical = 2;', 'bool physical = 2;\n  bool extra = 3;'))).toContain(
      'not in etcd 3.4 and not an allowed addition: field etcdserverpb.CompactionRequest.extra "3 singular bool"',
    );
    expect(fidelityProblems(reference, loadOursWithRpcEdit('returns (stream SnapshotResponse)', 'returns (SnapshotResponse)'))).toContain(
      'differs: method etcdserverpb.Maintenance.Snapshot: etcd "etcdserverpb.SnapshotRequest -> etcdserverpb.SnapshotResponse reqStream=false resStream=true", ours "etcdserverpb.SnapshotRequest -> etcdserverpb.SnapshotResponse reqStream=false resStream=false"',
    );
  });
});

describe('v3election and v3lock', () => {
  it('parse and expose Election and Lock with the expected methods and streaming', () => {
    const our = describeRoot(loadOurProtos(true));
    const methods = [...our].filter(([k]) => /^method v3(election|lock)pb\./.test(k));
    expect(Object.fromEntries(methods)).toEqual({
      'method v3electionpb.Election.Campaign': 'v3electionpb.CampaignRequest -> v3electionpb.CampaignResponse reqStream=false resStream=false',
      'method v3electionpb.Election.Proclaim': 'v3electionpb.ProclaimRequest -> v3electionpb.ProclaimResponse reqStream=false resStream=false',
      'method v3electionpb.Election.Leader': 'v3electionpb.LeaderRequest -> v3electionpb.LeaderResponse reqStream=false resStream=false',
      'method v3electionpb.Election.Observe': 'v3electionpb.LeaderRequest -> v3electionpb.LeaderResponse reqStream=false resStream=true',
      'method v3electionpb.Election.Resign': 'v3electionpb.ResignRequest -> v3electionpb.ResignResponse reqStream=false resStream=false',
      'method v3lockpb.Lock.Lock': 'v3lockpb.LockRequest -> v3lockpb.LockResponse reqStream=false resStream=false',
      'method v3lockpb.Lock.Unlock': 'v3lockpb.UnlockRequest -> v3lockpb.UnlockResponse reqStream=false resStream=false',
    });
    expect(our.get('field v3electionpb.LeaderKey.rev')).toBe('3 singular int64');
    expect(our.get('field v3electionpb.LeaderResponse.kv')).toBe('2 singular mvccpb.KeyValue');
  });
});
