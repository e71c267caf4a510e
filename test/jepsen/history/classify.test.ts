// classifyError: which answers prove a write had no effect (history/classify.ts).
import { describe, expect, it } from 'vitest';
import { PROPOSAL_DROPPED, STREAM_REFUSED, classifyError } from './classify.js';

describe('classifyError', () => {
  it('a refused stream and a dropped proposal are definite; a status-less reset or a timeout is not', () => {
    expect(classifyError({ codeName: 'UNAVAILABLE', details: STREAM_REFUSED }, false)).toBe('fail');
    expect(classifyError({ codeName: 'UNKNOWN', details: PROPOSAL_DROPPED }, false)).toBe('fail');
    expect(
      classifyError({ codeName: 'INTERNAL', details: 'Received RST_STREAM with code 0 (Call ended without gRPC status)' }, false),
    ).toBe('info');
    expect(classifyError({ codeName: 'UNAVAILABLE', details: 'etcdserver: leader changed' }, false)).toBe('info');
    expect(classifyError({ codeName: 'DEADLINE_EXCEEDED', details: 'Deadline exceeded' }, false)).toBe('info');
    expect(classifyError({ codeName: 'UNAVAILABLE', details: 'anything' }, true)).toBe('fail');
  });
});
