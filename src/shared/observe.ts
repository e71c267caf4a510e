/**
 * Observations core modules report for the member's metrics (docs/architecture.md §1,
 * /metrics), without knowing Prometheus: a module that counts or times something
 * takes an injected `Observe` and calls it with one of these names and a value; the
 * shell maps each name to etcd's metric family (src/http/metrics.ts). Tests and the
 * simulator pass nothing (noObserve).
 *
 * Contract: counters are reported as increments (value >= 0); durations in seconds
 * unless the name ends in Ms; a name is reported by exactly one module.
 */
export type Observation =
  // mvcc (etcd mvcc/metrics.go, metrics_txn.go): one per operation of a finished txn.
  | 'mvcc.range'
  | 'mvcc.put'
  | 'mvcc.delete'
  | 'mvcc.txn'
  /** bytes of key + value of a put (etcd_debugging_mvcc_total_put_size_in_bytes) */
  | 'mvcc.putBytes'
  | 'mvcc.compactionKeys'
  | 'mvcc.compactionTotalMs'
  | 'mvcc.compactionPauseMs'
  | 'mvcc.indexCompactionPauseMs'
  | 'mvcc.hash'
  | 'mvcc.hashRev'
  // lease (etcd lease/metrics.go)
  | 'lease.granted'
  | 'lease.ttl'
  | 'lease.renewed'
  | 'lease.revoked'
  | 'lease.expired'
  // server (etcd etcdserver/metrics.go)
  | 'server.proposalFailed'
  | 'server.readIndexFailed'
  | 'server.slowReadIndex'
  | 'server.slowApply'
  | 'server.learnerPromoted'
  // watch events sent to clients (etcd_debugging_mvcc_events_total)
  | 'watch.events'
  // disk and snapshots (etcd wal/metrics.go, mvcc/backend/metrics.go, snap/metrics.go)
  | 'backend.defrag'
  | 'backend.snapshot'
  | 'backend.commitWrite'
  | 'backend.commitSpill'
  | 'backend.commitRebalance'
  | 'snap.dbFsync'
  | 'snap.dbSaveTotal'
  | 'snap.fsync'
  | 'snap.saveMarshalling'
  | 'snap.saveTotal'
  // the v2 store etcd keeps membership in (etcd_debugging_store_*)
  | 'store.readGetRecursive'
  | 'store.writeCreate'
  | 'store.writeSet'
  | 'store.writeUpdate'
  | 'store.writeDelete';

export type Observe = (what: Observation, value: number) => void;

export const noObserve: Observe = () => {};
