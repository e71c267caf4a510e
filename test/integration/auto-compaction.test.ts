// auto-compaction-mode periodic on tsetcd and on the real etcd 3.4.23 with the same
// short retention: both compact on their own, keep the revisions of the last retention
// period, and refuse reads at revisions before the compaction with etcd's error.
// (Revision mode checks every 5 minutes, as etcd's; test/compactor covers its schedule.)
import { afterAll, describe, expect, it } from 'vitest';
import { etcdctlFor } from '../helpers/etcdctl.js';
import { dumpMemberLogsOnFailure, sleep, startMember, stopAllMembers, type Member, type Target } from '../helpers/processes.js';
import { requireTools } from '../helpers/require-tool.js';

afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

async function revisionOf(m: Member): Promise<number> {
  const r = await etcdctlFor(m, ['get', 'auto/none', '-w', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return Number(/"revision":(\d+)/.exec(r.stdout)?.[1] ?? NaN);
}

describe.each<Target>(['etcd', 'tsetcd'])('periodic auto-compaction (%s)', (target) => {
  it('compacts by itself to the revision of one retention ago', async (ctx) => {
    requireTools(ctx, 'etcd', 'etcdctl');
    const member = await startMember({
      target,
      name: 'kube-etcd-node01',
      extraConfig: { 'auto-compaction-mode': 'periodic', 'auto-compaction-retention': '2s' },
    });
    // Writes for 5 s: the compactor samples every 200 ms and, 2 s after start, compacts
    // at the revision it saw 2 s earlier, then again every 2 s.
    const started = Date.now();
    let i = 0;
    while (Date.now() - started < 5_000) {
      const r = await etcdctlFor(member, ['put', 'auto/k', `v${i++}`]);
      expect(r.code, r.stderr).toBe(0);
      await sleep(50);
    }
    const current = await revisionOf(member);
    expect(current).toBeGreaterThan(20);
    const old = await etcdctlFor(member, ['get', 'auto/k', '--rev=2']);
    expect(old.code).not.toBe(0);
    expect(old.stderr).toContain('etcdserver: mvcc: required revision has been compacted');
    // The last second's revisions are kept.
    const recent = await etcdctlFor(member, ['get', 'auto/k', `--rev=${current - 2}`]);
    expect(recent.code, recent.stderr).toBe(0);
    await member.dispose();
  }, 60_000);
});
