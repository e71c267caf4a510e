/**
 * Cluster membership: who the members are (id, name, peer and client URLs, learner
 * flag) and which ids were removed, as decided by applied ConfChange and
 * MemberAttributes entries. Deterministic: every member applies the same entries in
 * the same order and ends with the same membership (etcd api/membership/cluster.go).
 *
 * The ConfChange context carries [request id u64][JSON member] so the proposer can
 * match the apply to its waiting caller; the JSON is {id, name, peerURLs, isLearner}
 * with the id as a hex string (64-bit ids do not fit JSON numbers).
 *
 * Persistence: every change writes the member record (or the removal) into the same
 * state-db batch as the apply, under schema.MEMBERS_PREFIX:
 *   'c' 'm' + id (8 bytes) -> JSON member      'c' 'r' + id -> "" (removed)
 */
import { assert } from '../shared/assert.js';
import { MEMBERS_PREFIX } from '../storage/schema.js';
import type { Backend, BackendBatch } from '../storage/backend.js';
import { forEachInRange, prefixRange } from '../storage/backend.js';
import { memberId, type MemberId } from '../shared/ids.js';

export interface Member {
  readonly id: MemberId;
  /** Empty until the member publishes its attributes after it starts ("unstarted"). */
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

interface MemberJson {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

const MEMBER_SUB = 0x6d; // 'm'
const REMOVED_SUB = 0x72; // 'r'

function recordKey(sub: number, id: bigint): Buffer {
  const k = Buffer.alloc(10);
  k[0] = MEMBERS_PREFIX;
  k[1] = sub;
  k.writeBigUInt64BE(id, 2);
  return k;
}

export function memberToJson(m: Member): string {
  const j: MemberJson = {
    id: m.id.toString(16),
    name: m.name,
    peerURLs: [...m.peerUrls],
    clientURLs: [...m.clientUrls],
    isLearner: m.isLearner,
  };
  return JSON.stringify(j);
}

export function memberFromJson(text: string): Member {
  const j = JSON.parse(text) as Partial<MemberJson>;
  assert(typeof j.id === 'string' && /^[0-9a-f]{1,16}$/.test(j.id), `member record: bad id ${String(j.id)}`);
  return {
    id: memberId(BigInt(`0x${j.id}`)),
    name: typeof j.name === 'string' ? j.name : '',
    peerUrls: Array.isArray(j.peerURLs) ? j.peerURLs.map(String) : [],
    clientUrls: Array.isArray(j.clientURLs) ? j.clientURLs.map(String) : [],
    isLearner: j.isLearner === true,
  };
}

/** ConfChange context: [request id u64 BE][JSON member]. */
export function encodeConfChangeContext(requestId: bigint, m: Member): Uint8Array {
  const json = Buffer.from(memberToJson(m), 'utf8');
  const out = Buffer.alloc(8 + json.length);
  out.writeBigUInt64BE(BigInt.asUintN(64, requestId), 0);
  json.copy(out, 8);
  return out;
}

export function decodeConfChangeContext(ctx: Uint8Array): { requestId: bigint; member: Member | undefined } {
  const b = Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength);
  if (b.length < 8) return { requestId: 0n, member: undefined };
  const requestId = b.readBigUInt64BE(0);
  const member = b.length > 8 ? memberFromJson(b.subarray(8).toString('utf8')) : undefined;
  return { requestId, member };
}

/** One record under MEMBERS_PREFIX: a member, or the id of a removed one (else undefined). */
export function parseMembershipRecord(
  key: Buffer,
  value: Buffer,
): { readonly member: Member } | { readonly removed: MemberId } | undefined {
  if (key.length !== 10 || key[0] !== MEMBERS_PREFIX) return undefined;
  const id = memberId(key.readBigUInt64BE(2));
  if (key[1] === MEMBER_SUB) return { member: memberFromJson(value.toString('utf8')) };
  if (key[1] === REMOVED_SUB) return { removed: id };
  return undefined;
}

export class Membership {
  private readonly byId = new Map<MemberId, Member>();
  private readonly removedIds = new Set<MemberId>();

  static async load(backend: Backend): Promise<Membership> {
    const m = new Membership();
    await m.reload(backend);
    return m;
  }

  /** Replaces the in-memory view with the db's (after a snapshot install). */
  async reload(backend: Backend): Promise<void> {
    const byId = new Map<MemberId, Member>();
    const removed = new Set<MemberId>();
    await forEachInRange(backend, prefixRange(Buffer.from([MEMBERS_PREFIX])), (k, v) => {
      const rec = parseMembershipRecord(k, v);
      if (rec === undefined) return;
      if ('member' in rec) byId.set(rec.member.id, rec.member);
      else removed.add(rec.removed);
    });
    this.byId.clear();
    for (const [id, m] of byId) this.byId.set(id, m);
    this.removedIds.clear();
    for (const id of removed) this.removedIds.add(id);
  }

  members(): Member[] {
    return [...this.byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  get(id: bigint): Member | undefined {
    return this.byId.get(id as MemberId);
  }

  isRemoved(id: bigint): boolean {
    return this.removedIds.has(id as MemberId);
  }

  get size(): number {
    return this.byId.size;
  }

  learnerCount(): number {
    let n = 0;
    for (const m of this.byId.values()) if (m.isLearner) n++;
    return n;
  }

  /** A ConfChange AddNode / AddLearnerNode (or AddNode promoting a learner). */
  add(m: Member, batch: BackendBatch): void {
    const existing = this.byId.get(m.id);
    const next: Member =
      existing !== undefined
        ? { ...existing, isLearner: m.isLearner && existing.isLearner }
        : m;
    this.put(next, batch);
  }

  promote(id: MemberId, batch: BackendBatch): void {
    const m = this.byId.get(id);
    if (m !== undefined) this.put({ ...m, isLearner: false }, batch);
  }

  remove(id: MemberId, batch: BackendBatch): void {
    this.byId.delete(id);
    this.removedIds.add(id);
    batch.del(recordKey(MEMBER_SUB, id));
    batch.put(recordKey(REMOVED_SUB, id), Buffer.alloc(0));
  }

  updatePeerUrls(id: MemberId, peerUrls: readonly string[], batch: BackendBatch): void {
    const m = this.byId.get(id);
    if (m !== undefined) this.put({ ...m, peerUrls: [...peerUrls] }, batch);
  }

  /** A started member publishes its name and client URLs (etcd's publish). */
  setAttributes(id: MemberId, name: string, clientUrls: readonly string[], batch: BackendBatch): void {
    const m = this.byId.get(id);
    if (m !== undefined) this.put({ ...m, name, clientUrls: [...clientUrls] }, batch);
  }

  private put(m: Member, batch: BackendBatch): void {
    this.byId.set(m.id, m);
    batch.put(recordKey(MEMBER_SUB, m.id), Buffer.from(memberToJson(m), 'utf8'));
  }
}
