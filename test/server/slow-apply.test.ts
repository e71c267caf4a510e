// etcd's slow-apply warning (etcdserver/util.go warnOfExpensiveRequest): an entry whose
// apply takes longer than 100 ms logs "apply request took too long" with took,
// expected-duration, prefix, request and response; a fast one logs nothing. One real
// member core on the simulated file layer, with a clock that jumps while one put
// applies (the apply itself is synchronous, so only the clock can make it slow).
import { afterEach, describe, expect, it } from 'vitest';
import { RequestKind } from '../../src/apply/request.js';
import type * as pb from '../../src/generated/pb.js';
import type { MemberCore } from '../../src/server/member-core.js';
import { systemClock, type Clock } from '../../src/shared/clock.js';
import { captureLogger, type Logged } from '../helpers/capture-logger.js';
import { codec } from '../../src/shared/pb-codec.js';
import { bootOneMember, startAndLead } from './core-settings.js';
import { SimFileLayer } from '../../src/testing/index.js';

const cores: MemberCore[] = [];
afterEach(async () => {
  for (const c of cores.splice(0)) {
    c.leaseDriver.stop();
    await c.server.stop().catch(() => undefined);
  }
});


describe('apply request took too long', () => {
  it('is logged with etcd fields when an apply passes 100 ms, and not otherwise', async () => {
    let jump = 0;
    // While `jump` is set, every reading moves 150 ms on: one entry seems to take 150 ms.
    let offset = 0;
    const clock: Clock = { nowMs: () => systemClock.nowMs() + (offset += jump), wallMs: () => systemClock.wallMs() };
    const logged: Logged[] = [];
    const fs = new SimFileLayer();
    const core = await bootOneMember({ fs, clock, logger: captureLogger(logged), clusterToken: 'slow-apply', seed: 7 });
    cores.push(core);
    await startAndLead(core);
    const put = (key: string): Promise<unknown> =>
      core.server.propose(RequestKind.Put, codec<pb.PutRequest>('etcdserverpb.PutRequest').encode({ key: Buffer.from(key), value: Buffer.from('v') }));
    await put('fast');
    expect(logged.filter((l) => l.msg === 'apply request took too long')).toEqual([]);
    jump = 150;
    await put('slow');
    jump = 0;
    const slow = logged.filter((l) => l.msg === 'apply request took too long');
    expect(slow.length).toBeGreaterThanOrEqual(1);
    expect(slow[0]?.level).toBe('warn');
    expect(Object.keys(slow[0]?.fields ?? {}).sort()).toEqual(['expected-duration', 'prefix', 'request', 'response', 'took']);
    expect(slow[0]?.fields['expected-duration']).toBe('100ms');
    expect(String(slow[0]?.fields['took'])).toMatch(/^\d+(\.\d+)?ms$/);
    // etcd's InternalRaftStringer text: the value redacted to its size.
    expect(String(slow[0]?.fields['request'])).toMatch(/^header:<ID:\d+ > put:<key:"slow" value_size:1 >$/);
    expect(slow[0]?.fields['response']).toMatch(/^size:\d+$/);
  });
});
