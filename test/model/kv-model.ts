// A plain reference model of etcd 3.5 KV semantics: a map from key to its full history
// of changes, nothing compacted away, everything recomputed from scratch on every read.
// Slow and obviously right; MvccStore is tested against it.
//
// Sorting uses JS's stable sort: equal to Go's sort.Sort for <= 12 elements (insertion
// sort), so model tests keep ranges that small.
import { TsetcdError } from '../../src/shared/errors.js';
import { inRange } from '../../src/shared/bytes.js';
import { leaseId } from '../../src/shared/ids.js';
import { crc32c } from '../../src/shared/crc32c.js';
import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../../src/mvcc/types.js';
import { pbEncodeKeyValue } from './pb-kv.js';

const EMPTY = Buffer.alloc(0);
const NO_LEASE = leaseId(0n);

interface Change {
  main: number;
  sub: number;
  /** undefined: tombstone */
  kv: KeyValue | undefined;
  key: Buffer;
}

function err(code: 'compacted' | 'future-rev' | 'key-not-found' | 'lease-not-found'): never {
  throw new TsetcdError(code);
}

export class KvModel {
  rev = 1;
  compactRev = -1;
  private readonly hist = new Map<string, Change[]>();
  private sub = 0;
  /** (prevCompactRev, compactRev) of each compaction, for stored compaction hashes. */
  readonly compactions: Array<{ prev: number; rev: number }> = [];

  constructor(readonly leases: Set<bigint> = new Set([1n])) {}

  private at(hex: string, r: number): KeyValue | undefined {
    const h = this.hist.get(hex) ?? [];
    let found: Change | undefined;
    for (const c of h) if (c.main <= r) found = c;
    return found?.kv;
  }

  private keysIn(key: Buffer, end: Buffer): string[] {
    return [...this.hist.keys()]
      .filter((hex) => inRange(Buffer.from(hex, 'hex'), key, end))
      .sort((a, b) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')));
  }

  private live(key: Buffer, end: Buffer, r: number): KeyValue[] {
    const out: KeyValue[] = [];
    for (const hex of this.keysIn(key, end)) {
      const kv = this.at(hex, r);
      if (kv !== undefined) out.push(kv);
    }
    return out;
  }

  range(req: RangeRequest, curRev = this.rev): RangeResponse {
    let r = req.revision ?? 0;
    if (r > curRev) err('future-rev');
    if (r <= 0) r = curRev;
    if (r < this.compactRev) err('compacted');
    let kvs = this.live(req.key, req.rangeEnd ?? EMPTY, r);
    const count = kvs.length;
    if (req.countOnly === true) return { revision: curRev, kvs: [], more: false, count };
    const f = (v: number | undefined): number => v ?? 0;
    kvs = kvs.filter(
      (kv) =>
        !(f(req.maxModRevision) !== 0 && kv.modRevision > f(req.maxModRevision)) &&
        !(f(req.minModRevision) !== 0 && kv.modRevision < f(req.minModRevision)) &&
        !(f(req.maxCreateRevision) !== 0 && kv.createRevision > f(req.maxCreateRevision)) &&
        !(f(req.minCreateRevision) !== 0 && kv.createRevision < f(req.minCreateRevision)),
    );
    const target = req.sortTarget ?? 0;
    let order: number = req.sortOrder ?? 0;
    const filtered = [req.maxModRevision, req.minModRevision, req.maxCreateRevision, req.minCreateRevision].some((x) => f(x) !== 0);
    // etcd fetches limit+1 keys unless the REQUESTED order is set or a filter is: a sort
    // target with order NONE then sorts only those (etcdserver/apply.go Range).
    if (order === 0 && !filtered && (req.limit ?? 0) > 0) kvs = kvs.slice(0, (req.limit ?? 0) + 1);
    if (target !== 0 && order === 0) order = 1;
    if (order !== 0) {
      const cmp = (a: KeyValue, b: KeyValue): number => {
        switch (target) {
          case 0:
            return Buffer.compare(a.key, b.key);
          case 1:
            return a.version - b.version;
          case 2:
            return a.createRevision - b.createRevision;
          case 3:
            return a.modRevision - b.modRevision;
          default:
            return Buffer.compare(a.value, b.value);
        }
      };
      kvs = [...kvs].sort(order === 1 ? cmp : (a, b) => cmp(b, a));
    }
    const limit = req.limit ?? 0;
    const more = limit > 0 && kvs.length > limit;
    if (more) kvs = kvs.slice(0, limit);
    if (req.keysOnly === true) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY }));
    return { revision: curRev, kvs, more, count };
  }

  // ---- writes: each runs as one txn at rev + 1 ----

  private write(key: Buffer, kv: KeyValue | undefined): void {
    const hex = key.toString('hex');
    const h = this.hist.get(hex) ?? [];
    h.push({ main: this.rev + 1, sub: this.sub++, kv, key: Buffer.from(key) });
    this.hist.set(hex, h);
  }

  private get changed(): boolean {
    return this.sub > 0;
  }

  private viewRev(): number {
    return this.changed ? this.rev + 1 : this.rev;
  }

  private finish(): number {
    if (this.changed) this.rev++;
    this.sub = 0;
    return this.rev;
  }

  private doPut(p: PutRequest): PutResponse {
    const cur = this.at(p.key.toString('hex'), this.viewRev());
    const ignore = p.ignoreValue === true || p.ignoreLease === true;
    if (ignore && cur === undefined) err('key-not-found');
    const value = p.ignoreValue === true ? (cur as KeyValue).value : (p.value ?? EMPTY);
    const lease = p.ignoreLease === true ? (cur as KeyValue).lease : (p.lease ?? NO_LEASE);
    const rev = this.rev + 1;
    this.write(p.key, {
      key: Buffer.from(p.key),
      createRevision: cur !== undefined ? cur.createRevision : rev,
      modRevision: rev,
      version: cur !== undefined ? cur.version + 1 : 1,
      value: Buffer.from(value),
      lease,
    });
    const resp: PutResponse = { revision: rev };
    if (p.prevKv === true && cur !== undefined) resp.prevKv = cur;
    return resp;
  }

  private doDelete(d: DeleteRangeRequest): DeleteRangeResponse {
    const kvs = this.live(d.key, d.rangeEnd ?? EMPTY, this.viewRev());
    for (const kv of kvs) this.write(kv.key, undefined);
    const revision = kvs.length > 0 || this.changed ? this.rev + 1 : this.rev;
    return { revision, deleted: kvs.length, prevKvs: d.prevKv === true ? kvs : [] };
  }

  put(p: PutRequest): PutResponse {
    const lease = p.lease ?? NO_LEASE;
    if (lease !== NO_LEASE && !this.leases.has(lease)) err('lease-not-found');
    try {
      return this.doPut(p);
    } finally {
      this.finish();
    }
  }

  deleteRange(d: DeleteRangeRequest): DeleteRangeResponse {
    const r = this.doDelete(d);
    this.finish();
    return r;
  }

  private compareOne(c: Compare): boolean {
    const kvs = this.live(c.key, c.rangeEnd ?? EMPTY, this.rev);
    const test = (kv: KeyValue): boolean => {
      let r: number;
      const cmp = (a: number | bigint, b: number | bigint): number => (a < b ? -1 : a > b ? 1 : 0);
      switch (c.target) {
        case 0:
          r = cmp(kv.version, c.version ?? 0);
          break;
        case 1:
          r = cmp(kv.createRevision, c.createRevision ?? 0);
          break;
        case 2:
          r = cmp(kv.modRevision, c.modRevision ?? 0);
          break;
        case 3:
          r = Buffer.compare(kv.value, c.value ?? EMPTY);
          break;
        default:
          r = cmp(kv.lease, c.lease ?? 0n);
      }
      return [r === 0, r > 0, r < 0, r !== 0][c.result] as boolean;
    };
    if (kvs.length === 0) {
      if (c.target === 3) return false;
      return test({ key: EMPTY, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: NO_LEASE });
    }
    return kvs.every(test);
  }

  /** Flattens the executed path: each nested txn replaced by its taken branch. */
  private executedOps(t: TxnRequest): RequestOp[] {
    const ops = t.compare.every((c) => this.compareOne(c)) ? t.success : t.failure;
    return ops.flatMap((op) => ('requestTxn' in op ? this.executedOps(op.requestTxn) : [op]));
  }

  txn(t: TxnRequest): TxnResponse {
    const flat = this.executedOps(t); // compares all see the state before the txn
    const readOnly = [...t.success, ...t.failure].every((op) => 'requestRange' in op);
    if (!readOnly) {
      const deletes: DeleteRangeRequest[] = [];
      for (const op of flat) {
        if ('requestDeleteRange' in op) deletes.push(op.requestDeleteRange);
        if (!('requestPut' in op)) continue;
        const p = op.requestPut;
        if (p.ignoreValue === true || p.ignoreLease === true) {
          if (this.at(p.key.toString('hex'), this.rev) === undefined) err('key-not-found');
          if (deletes.some((d) => inRange(p.key, d.key, d.rangeEnd ?? EMPTY))) err('key-not-found');
        }
        const lease = p.lease ?? NO_LEASE;
        if (lease !== NO_LEASE && !this.leases.has(lease)) err('lease-not-found');
      }
    }
    for (const op of flat) {
      if (!('requestRange' in op)) continue;
      const r = op.requestRange.revision ?? 0;
      if (r === 0) continue;
      if (r > this.rev) err('future-rev');
      if (r < this.compactRev) err('compacted');
    }
    const resp = this.execTxn(t);
    resp.revision = this.finish();
    return resp;
  }

  private execTxn(t: TxnRequest): TxnResponse {
    const succeeded = t.compare.every((c) => this.compareOne(c));
    const responses: ResponseOp[] = [];
    for (const op of succeeded ? t.success : t.failure) {
      if ('requestRange' in op) responses.push({ responseRange: this.range(op.requestRange, this.viewRev()) });
      else if ('requestPut' in op) responses.push({ responsePut: this.doPut(op.requestPut) });
      else if ('requestDeleteRange' in op) responses.push({ responseDeleteRange: this.doDelete(op.requestDeleteRange) });
      else responses.push({ responseTxn: this.execTxn(op.requestTxn) });
    }
    return { revision: 0, succeeded, responses };
  }

  compact(r: number): void {
    if (r <= this.compactRev) err('compacted');
    if (r > this.rev) err('future-rev');
    this.compactions.push({ prev: this.compactRev, rev: r });
    this.compactRev = r;
  }

  // ---- HashKV, from the definition (etcd hash.go), with protobufjs-encoded values ----

  private records(): Change[] {
    const all = [...this.hist.values()].flat();
    return all.sort((a, b) => a.main - b.main || a.sub - b.sub);
  }

  /** The revisions a compaction at c keeps, <= c (etcd doCompact per key). */
  private retained(c: number): Set<string> {
    const out = new Set<string>();
    for (const h of this.hist.values()) {
      const upTo = h.filter((x) => x.main <= c);
      const last = upTo[upTo.length - 1];
      if (last === undefined) continue;
      const tombAtC = upTo.filter((x) => x.main === c && x.kv === undefined);
      if (tombAtC.length > 0) {
        // The generation ending exactly at c is kept from its tombstone on.
        for (const x of upTo.filter((y) => y.main === c && y.sub >= (tombAtC[0] as Change).sub)) out.add(`${x.main}.${x.sub}`);
      } else if (last.kv !== undefined) {
        out.add(`${last.main}.${last.sub}`);
      }
    }
    return out;
  }

  /** etcd keyIndex.keep(r) over all keys. */
  private keep(r: number): Set<string> {
    const out = new Set<string>();
    for (const h of this.hist.values()) {
      if (h.some((x) => x.main === r && x.kv === undefined)) continue;
      const upTo = h.filter((x) => x.main <= r);
      const last = upTo[upTo.length - 1];
      if (last?.kv !== undefined) out.add(`${last.main}.${last.sub}`);
    }
    return out;
  }

  private hashOf(upper: number, lower: number, keep: Set<string>, filterAlways: boolean): number {
    let crc = crc32c(Buffer.from('key'));
    for (const c of this.records()) {
      if (c.main > upper) continue;
      if (c.main <= lower && (filterAlways || keep.size > 0) && !keep.has(`${c.main}.${c.sub}`)) continue;
      const revBytes = Buffer.alloc(c.kv === undefined ? 18 : 17);
      revBytes.writeBigUInt64BE(BigInt(c.main), 0);
      revBytes[8] = 0x5f;
      revBytes.writeBigUInt64BE(BigInt(c.sub), 9);
      if (c.kv === undefined) revBytes[17] = 0x74;
      const kv = c.kv ?? { key: c.key, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: NO_LEASE };
      crc = crc32c(pbEncodeKeyValue(kv), crc32c(revBytes, crc));
    }
    return crc >>> 0;
  }

  /** HashKV(r) computed from scratch (never a stored compaction hash). */
  hashKV(requested: number): { hash: number; compactRevision: number; hashRevision: number } {
    if (requested > 0 && requested < this.compactRev) err('compacted');
    if (requested > 0 && requested > this.rev) err('future-rev');
    const r = requested === 0 ? this.rev : requested;
    let keep = this.keep(r);
    if (keep.size === 0) keep = this.retained(this.compactRev);
    return { hash: this.hashOf(r, this.compactRev, keep, true), compactRevision: this.compactRev, hashRevision: r };
  }

  /**
   * The hash a compaction at c stores (previous compaction prev, finished): it hashes the
   * records on disk up to c, those <= prev filtered by what c keeps when that is not empty.
   */
  compactionHash(prev: number, c: number): number {
    const keep = this.retained(c);
    if (keep.size > 0) return this.hashOf(c, prev, keep, true);
    if (prev < 0) return this.hashOf(c, prev, keep, false);
    return this.hashOf(c, prev, this.retained(prev), true);
  }
}

