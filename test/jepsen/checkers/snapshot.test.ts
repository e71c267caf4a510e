/**
 * Self-tests of the snapshot checker (checkers/snapshot.ts): a restored state equal to the
 * history at R passes; a missing acknowledged write, a write after R, a wrong value or
 * version, a revision no write explains, and a stray key each fail; unknown writes may
 * or may not be there.
 */
import { describe, expect, it } from 'vitest';
import type { Op } from '../history/op.js';
import { op } from './fixtures.js';
import type { RestoredKv } from './snapshot.js';
import { checkRestoredRegister } from './snapshot.js';

const put = (key: string, value: number, revision: number, version: number): Op =>
  op('write', revision, revision + 1, { value }, { version }, { key, revision });
const cas = (key: string, to: number, revision: number, out: { succeeded: boolean; version?: number }): Op =>
  op('cas', revision, revision + 1, { from: 0, to }, out, { key, revision });
const unknownPut = (key: string, value: number): Op =>
  op('write', 0, 100, { value }, null, { key, type: 'info' });
const failedPut = (key: string, value: number): Op =>
  op('write', 0, 100, { value }, null, { key, type: 'fail' });
const kv = (key: string, value: number, modRevision: number, version: number): RestoredKv => ({
  key,
  value: String(value),
  modRevision,
  version,
});

// reg/0: 1@2 (v1), 3@4 (v2), 4@7 (v3, after R=5); reg/1: cas to 2@5 (v1); reg/2: never acknowledged.
const history: Op[] = [
  put('reg/0', 1, 2, 1),
  put('reg/0', 3, 4, 2),
  cas('reg/1', 2, 5, { succeeded: true, version: 1 }),
  cas('reg/1', 4, 6, { succeeded: false }),
  put('reg/0', 4, 7, 3),
  unknownPut('reg/2', 9),
  failedPut('reg/2', 8),
];
const atFive = [kv('reg/0', 3, 4, 2), kv('reg/1', 2, 5, 1)];

describe('snapshot checker', () => {
  it('accepts the state at R, with or without an unknown write', () => {
    expect(checkRestoredRegister(history, atFive, 5)).toEqual([]);
    expect(checkRestoredRegister(history, [...atFive, kv('reg/2', 9, 3, 1)], 5)).toEqual([]);
  });

  it('rejects the same state checked at R-1 and at R+2 (the controls the fault run uses)', () => {
    expect(checkRestoredRegister(history, atFive, 4).join('\n')).toMatch(/reg\/1: restored at revision 5, after/);
    expect(checkRestoredRegister(history, atFive, 7).join('\n')).toMatch(/reg\/0: .*acknowledged at revision 7/);
  });

  it('rejects a missing acknowledged write, a wrong value or version, and a stray key', () => {
    expect(checkRestoredRegister(history, [kv('reg/0', 3, 4, 2)], 5).join('\n')).toMatch(/reg\/1: missing/);
    expect(checkRestoredRegister(history, [kv('reg/0', 1, 2, 1), kv('reg/1', 2, 5, 1)], 5).join('\n')).toMatch(
      /reg\/0: restored at revision 2 .*acknowledged at revision 4/,
    );
    expect(checkRestoredRegister(history, [kv('reg/0', 4, 4, 2), kv('reg/1', 2, 5, 1)], 5).join('\n')).toMatch(
      /reg\/0: revision 4 holds value 4/,
    );
    expect(checkRestoredRegister(history, [kv('reg/0', 3, 4, 3), kv('reg/1', 2, 5, 1)], 5).join('\n')).toMatch(
      /version 3/,
    );
    expect(checkRestoredRegister(history, [...atFive, kv('reg/9', 1, 3, 1)], 5).join('\n')).toMatch(/reg\/9: .*no op wrote/);
  });

  it('rejects a value only a failed write or a failed compare-and-set could have made', () => {
    expect(checkRestoredRegister(history, [...atFive, kv('reg/2', 8, 3, 1)], 5).join('\n')).toMatch(
      /reg\/2: restored value 8 .*no acknowledged or unknown write/,
    );
    expect(checkRestoredRegister(history, [kv('reg/0', 3, 4, 2), kv('reg/1', 4, 5, 2)], 5).join('\n')).toMatch(
      /reg\/1: revision 5 holds value 4/,
    );
  });

  it('rejects an unknown write placed at a revision an acknowledged write took', () => {
    expect(checkRestoredRegister(history, [...atFive, kv('reg/2', 9, 2, 1)], 5).join('\n')).toMatch(
      /reg\/2: restored at revision 2, which an acknowledged write to reg\/0 took/,
    );
  });
});
