/**
 * WriteTxn: the changes of one write request at one main revision (etcd
 * mvcc/kvstore_txn.go storeTxnWrite). Every put or delete gets the next sub revision,
 * updates the in-memory index and live value at once (so later ops of the same txn see
 * it), appends its record to the caller's batch, and keeps the record in `pending`
 * until the caller reports the batch durable.
 *
 * Revision rule: the store revision moves to beginRev + 1 at end() only if something
 * changed; a request that changes nothing leaves it untouched.
 */
import { assert } from '../shared/assert.js';
import { leaseId, type LeaseId } from '../shared/ids.js';
import type { BackendBatch } from '../storage/backend.js';
import { KeyIndex } from './key-index.js';
import { encodeKeyValue, encodeKeyValueInto } from './kv-codec.js';
import { visitRange } from './range.js';
import { recordKey } from './revision.js';
import type { StoreState } from './store-state.js';
import type { KeyValue, LeaseChange, MvccEvent } from './types.js';

const EMPTY = Buffer.alloc(0);
const NO_LEASE = leaseId(0n);

export class WriteTxn {
  readonly beginRev: number;
  readonly rev: number;
  changes = 0;
  readonly events: MvccEvent[] = [];
  readonly leaseChanges: LeaseChange[] = [];
  private ended = false;

  constructor(
    private readonly state: StoreState,
    private readonly batch: BackendBatch,
  ) {
    this.beginRev = state.currentRev;
    this.rev = this.beginRev + 1;
    assert(state.indexRev === this.beginRev, 'mvcc: a write txn started inside another one');
  }

  /** The revision reads inside this txn see (etcd storeTxnWrite.Range). */
  get viewRev(): number {
    return this.changes > 0 ? this.rev : this.beginRev;
  }

  put(key: Buffer, value: Buffer, lease: LeaseId): void {
    assert(!this.ended, 'put after end');
    assert(key.length > 0, 'mvcc: put with an empty key');
    const state = this.state;
    // One descent of the index, found or inserted.
    const ki = state.index.getOrInsert(key, () => {
      const made = new KeyIndex();
      state.arena.ownKey(made, key, 0, key.length);
      return made;
    });
    const prev = ki.liveKV();
    // The previous record's key (a view that stays valid), else one view of the index's.
    const k = prev !== undefined ? prev.key : ki.key;
    const rev = this.rev;
    const sub = this.changes++;
    const createRevision = prev !== undefined ? ki.liveCreated : rev;
    const version = prev !== undefined ? ki.liveVersion + 1 : 1;
    // Encoded straight into the key's place in the record arena; the event's KeyValue
    // views the record there; the index keeps only the record.
    const enc = encodeKeyValueInto({ key: k, createRevision, modRevision: rev, version, value, lease },
      (size) => ki.put(rev, sub, state.arena, size));
    const kv: KeyValue = {
      key: k,
      createRevision,
      modRevision: rev,
      version,
      value: value.length === 0 ? EMPTY : enc.bytes.subarray(enc.valueOffset, enc.valueOffset + value.length),
      lease,
    };
    this.record(sub, false, enc.bytes);
    if (prev === undefined) state.liveKeys++;
    this.events.push({ type: 'put', kv, prevKv: prev });
    if (lease !== NO_LEASE) state.leasedRecordSeen = true;
    const oldLease = prev?.lease ?? NO_LEASE;
    if (oldLease !== lease) this.leaseChanges.push({ key: k, oldLease, newLease: lease });
  }

  /** Deletes every key in [key, end) that exists in this txn's view; returns the count. */
  deleteRange(key: Buffer, end: Buffer): number {
    assert(!this.ended, 'delete after end');
    const doomed: KeyIndex[] = [];
    visitRange(this.state, key, end, (ki) => {
      if (ki.isLive) doomed.push(ki);
    });
    for (const ki of doomed) this.delete(ki);
    return doomed.length;
  }

  private delete(ki: KeyIndex): void {
    const prev = ki.liveKV();
    assert(prev !== undefined, 'mvcc: delete of a key that does not exist');
    const rev = this.rev;
    const sub = this.changes++;
    // etcd stores a tombstone as a KeyValue holding only the key.
    const k = prev.key; // a view of the live record, valid however long it is held
    const enc = encodeKeyValue({ key: k, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: NO_LEASE });
    this.record(sub, true, enc.bytes);
    ki.tombstone(rev, sub, this.state.arena);
    this.state.liveKeys--;
    this.events.push({
      type: 'delete',
      kv: { key: k, createRevision: 0, modRevision: rev, version: 0, value: EMPTY, lease: NO_LEASE },
      prevKv: prev,
    });
    if (prev.lease !== NO_LEASE) this.leaseChanges.push({ key: k, oldLease: prev.lease, newLease: NO_LEASE });
  }

  private record(sub: number, tombstone: boolean, value: Buffer): void {
    const key = recordKey(this.rev, sub, tombstone);
    this.batch.put(key, value);
    this.state.recordBytes += key.length + value.length;
    this.state.addPending(this.batch, this.rev, sub, { key, value });
    this.state.indexRev = this.rev;
  }

  /** Completes the txn; returns the store revision after it. */
  end(): number {
    assert(!this.ended, 'txn ended twice');
    this.ended = true;
    if (this.changes > 0) this.state.currentRev = this.rev;
    assert(this.state.indexRev === this.state.currentRev, 'mvcc: index ahead of the store revision');
    return this.state.currentRev;
  }
}
