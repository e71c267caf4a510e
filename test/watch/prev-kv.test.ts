// prev_kv of watch events is the key at mod_revision - 1, as etcd reads it: a key a txn
// changes twice in one revision gets the value from before that revision on both
// events (the differential test found tsetcd sending the txn's own earlier put).
import { describe, expect, it } from 'vitest';
import { prevKvsAsOfRevisionStart, withoutCompactedPrevKvs } from '../../src/watch/prev-kv.js';
import type { KeyValue, MvccEvent } from '../../src/mvcc/types.js';
import { leaseId } from '../../src/shared/ids.js';

const kv = (key: string, value: string, create: number, mod: number, version: number): KeyValue => ({
  key: Buffer.from(key),
  value: Buffer.from(value),
  createRevision: create,
  modRevision: mod,
  version,
  lease: leaseId(0n),
});

describe('watch prev_kv within one revision', () => {
  it('a put then a delete of a new key in one txn: the delete has no prev_kv', () => {
    const put = kv('a', 'v', 9, 9, 1);
    const events: MvccEvent[] = [
      { type: 'put', kv: put, prevKv: undefined },
      { type: 'delete', kv: kv('a', '', 0, 9, 0), prevKv: put },
    ];
    prevKvsAsOfRevisionStart(events);
    expect(events[1]?.prevKv).toBeUndefined();
  });

  it('an existing key changed twice: both events carry the value from before the revision', () => {
    const old = kv('a', 'old', 3, 5, 2);
    const put = kv('a', 'new', 3, 9, 3);
    const events: MvccEvent[] = [
      { type: 'put', kv: put, prevKv: old },
      { type: 'delete', kv: kv('a', '', 0, 9, 0), prevKv: put },
      { type: 'put', kv: kv('b', 'x', 9, 9, 1), prevKv: undefined },
    ];
    prevKvsAsOfRevisionStart(events);
    expect(events[0]?.prevKv).toBe(old);
    expect(events[1]?.prevKv).toBe(old);
    expect(events[2]?.prevKv).toBeUndefined();
  });
});

describe('watch prev_kv at the compaction revision', () => {
  // The differential test's seed=2013657515 path=142: etcd reads prev_kv at
  // mod_revision - 1, which a compaction at mod_revision has removed.
  it('drops prev_kv only for events at or below the compaction revision, without touching the input', () => {
    const atC = { type: 'put' as const, kv: kv('a', 'v', 4, 11, 2), prevKv: kv('a', '', 4, 4, 1) };
    const afterC = { type: 'put' as const, kv: kv('a', 'w', 4, 12, 3), prevKv: atC.kv };
    const input = [
      { revision: 11, events: [atC] },
      { revision: 12, events: [afterC] },
    ];
    const out = withoutCompactedPrevKvs(input, 11);
    expect(out[0]?.events[0]?.prevKv).toBeUndefined();
    expect(out[0]?.events[0]?.kv).toBe(atC.kv);
    expect(out[1]).toBe(input[1]);
    expect(atC.prevKv).toBeDefined(); // the window's event is shared, never changed
    expect(withoutCompactedPrevKvs(input, 10)).toEqual(input);
  });
});

