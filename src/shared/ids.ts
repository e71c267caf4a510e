/**
 * 64-bit identifiers. Member, cluster and lease ids are random 64-bit values, so they
 * are branded bigints and become Long or decimal strings only at the proto edge.
 * Raft indexes, terms and revisions are plain numbers (asserted safe integers).
 */
export type MemberId = bigint & { readonly __brand: 'MemberId' };
export type ClusterId = bigint & { readonly __brand: 'ClusterId' };
export type LeaseId = bigint & { readonly __brand: 'LeaseId' };

export const memberId = (n: bigint): MemberId => BigInt.asUintN(64, n) as MemberId;
export const clusterId = (n: bigint): ClusterId => BigInt.asUintN(64, n) as ClusterId;
/** Lease ids are int64 on the wire; etcd only hands out positive ones. */
export const leaseId = (n: bigint): LeaseId => BigInt.asIntN(64, n) as LeaseId;

/** etcd prints ids in lowercase hex without padding (types.ID.String()). */
export function idToHex(id: bigint): string {
  return BigInt.asUintN(64, id).toString(16);
}

export function idFromHex(hex: string): bigint {
  if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) throw new RangeError(`not a hex id: ${hex}`);
  return BigInt(`0x${hex}`);
}
