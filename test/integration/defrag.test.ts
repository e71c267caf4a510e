// etcdctl defrag against tsetcd and the real etcd: the same output line, the member
// keeps serving, and after deleting and compacting most of the data the state db's
// files shrink (LevelDB compacts its whole key range, dropping deleted records).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { etcdctlFor } from '../helpers/etcdctl.js';
import {
  dumpMemberLogsOnFailure,
  startMember,
  stopAllMembers,
  targetFromEnv,
  type Member,
} from '../helpers/processes.js';

const target = targetFromEnv();
let pki: TestPki;
let member: Member;
let oracle: Member;

beforeAll(async () => {
  pki = await makeTestPki();
  [member, oracle] = await Promise.all([
    startMember({ target, pki, name: 'kube-etcd-node01' }),
    startMember({ target: 'etcd', pki, name: 'kube-etcd-node01' }),
  ]);
}, 60_000);
afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

async function dbSize(m: Member): Promise<number> {
  const r = await etcdctlFor(m, ['endpoint', 'status', '-w', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return Number(/"dbSize":(\d+)/.exec(r.stdout)?.[1] ?? NaN);
}

/** etcdctl's defrag line with the endpoint replaced, e.g. "Finished defragmenting etcd member[<ep>]". */
async function defrag(m: Member): Promise<string> {
  const r = await etcdctlFor(m, ['defrag']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim().replace(m.clientUrl, '<ep>');
}

describe(`etcdctl defrag on ${target}`, () => {
  it('answers like etcd 3.4.23 and shrinks the db after deletes and a compaction', async () => {
    // About 3.6 MB of values (60 keys of 20 KB, written three times), then all deleted
    // and compacted away: what is left on disk is garbage a defragment must drop.
    const value = 'x'.repeat(20_000);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 60; i++) {
        const r = await etcdctlFor(member, ['put', `defrag/k${i}`, value]);
        expect(r.code, r.stderr).toBe(0);
      }
    }
    const del = await etcdctlFor(member, ['del', 'defrag/', '--prefix']);
    expect(del.code, del.stderr).toBe(0);
    const rev = /"revision":(\d+)/.exec((await etcdctlFor(member, ['get', 'x', '-w', 'json'])).stdout)?.[1];
    expect((await etcdctlFor(member, ['compaction', String(rev), '--physical'])).code).toBe(0);
    const before = await dbSize(member);
    expect(await defrag(member)).toBe(await defrag(oracle));
    const after = await dbSize(member);
    expect(after, `db size ${before} -> ${after}`).toBeLessThan(before);
    // Still serving, reads and writes.
    expect((await etcdctlFor(member, ['put', 'after-defrag', 'ok'])).code).toBe(0);
    const get = await etcdctlFor(member, ['get', 'after-defrag', '--print-value-only']);
    expect(get.stdout.trim()).toBe('ok');
  }, 120_000);
});
