import { describe, expect, it } from 'vitest';
import { computeClusterId, computeMemberId, etcdUrlString } from '../../src/cluster/ids.js';

describe('member and cluster ids', () => {
  it("match etcd's member-id test vector", () => {
    const m = computeMemberId(['http://127.0.0.1:23806'], 'tok');
    expect(m).toBe(9942343966928181876n);
    expect(computeClusterId([m])).toBe(13292385014601237006n);
  });
  it('sort peer URLs before hashing', () => {
    const a = computeMemberId(['https://b:2380', 'https://a:2380'], 't');
    const b = computeMemberId(['https://a:2380', 'https://b:2380'], 't');
    expect(a).toBe(b);
    expect(computeMemberId(['https://a:2380'], 't')).not.toBe(computeMemberId(['https://a:2380'], 'u'));
  });
  it('keep the URL as written', () => {
    expect(etcdUrlString('https://Host.example:443/x')).toBe('https://Host.example:443');
  });
});
