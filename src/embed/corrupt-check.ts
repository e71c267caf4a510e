/**
 * etcd 3.4's corruption checks (etcdserver/corrupt.go), run by the process shell:
 *
 * - initial (--experimental-initial-corrupt-check): before serving clients, this
 *   member's HashKV at its current revision is compared with every peer's HashKV at
 *   that revision; a different hash with the same compact revision refuses the start
 *   with one line ("<id> found data inconsistency with peers"). A peer that cannot
 *   answer (down, behind, compacted past) is logged and skipped, as etcd does.
 * - periodic (--experimental-corrupt-check-time > 0): every interval, the leader takes
 *   its HashKV, the peers' at that revision, confirms with a ReadIndex round, hashes
 *   again, and raises the CORRUPT alarm (member id 0, as etcd 3.4: it does not know
 *   which side is damaged) through the log when its own hash changed at an unchanged
 *   revision, a follower is ahead of it, or a follower with its compact revision has
 *   another hash. CORRUPT then refuses writes on every member (apply/alarms.ts).
 *
 * etcd asks the peers over the peer URLs (/members/hashkv); tsetcd asks their client
 * URLs (Maintenance.HashKV), which every member publishes through the log.
 * Everything is injected (hashes, peers, the fetch, time), so the rules are testable.
 */
import { StartRefusal } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Scheduler } from '../shared/scheduler.js';

export interface KvHash {
  readonly hash: number;
  /** The store's current revision (the response header's revision). */
  readonly revision: number;
  readonly compactRevision: number;
}

export interface PeerRef {
  readonly id: bigint;
  readonly clientUrls: readonly string[];
}

export interface CorruptCheckDeps {
  readonly selfId: bigint;
  /** This member's HashKV at its current revision (etcd HashByRev(0)). */
  localHash(): Promise<KvHash>;
  /** Every other member with its client URLs. */
  peers(): readonly PeerRef[];
  /** A peer's HashKV at `revision` via one of its client URLs; rejects with its error. */
  fetch(url: string, revision: number): Promise<KvHash>;
  isLeader(): boolean;
  /** A ReadIndex round (etcd linearizableReadNotify). */
  readIndex(): Promise<void>;
  /** Proposes AlarmRequest ACTIVATE CORRUPT for member 0. */
  raiseCorrupt(): Promise<void>;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
}

interface PeerAnswer {
  readonly peer: PeerRef;
  readonly resp?: KvHash;
  readonly error?: string;
}

const hex = (id: bigint): string => id.toString(16);

async function peerHashes(deps: CorruptCheckDeps, revision: number): Promise<PeerAnswer[]> {
  const out: PeerAnswer[] = [];
  for (const peer of deps.peers()) {
    let error = 'no client URL published';
    let resp: KvHash | undefined;
    for (const url of peer.clientUrls) {
      try {
        resp = await deps.fetch(url, revision);
        break;
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
      }
    }
    out.push(resp !== undefined ? { peer, resp } : { peer, error });
  }
  return out;
}

/** etcd CheckInitialHashKV; throws a StartRefusal on a mismatch. */
export async function initialCorruptCheck(deps: CorruptCheckDeps): Promise<void> {
  const log = deps.logger;
  const self = hex(deps.selfId);
  log.info({ 'local-member-id': self }, 'starting initial corruption check');
  const local = await deps.localHash();
  let mismatch = 0;
  for (const p of await peerHashes(deps, local.revision)) {
    const fields = {
      'local-member-id': self,
      'local-member-revision': local.revision,
      'local-member-compact-revision': local.compactRevision,
      'local-member-hash': local.hash,
      'remote-peer-id': hex(p.peer.id),
      'remote-peer-endpoints': p.peer.clientUrls,
    };
    if (p.resp !== undefined) {
      const remote = {
        ...fields,
        'remote-peer-revision': p.resp.revision,
        'remote-peer-compact-revision': p.resp.compactRevision,
        'remote-peer-hash': p.resp.hash,
      };
      if (p.resp.hash !== local.hash) {
        if (p.resp.compactRevision === local.compactRevision) {
          log.warn(remote, 'found different hash values from remote peer');
          mismatch++;
        } else {
          log.warn(remote, 'found different compact revision values from remote peer');
        }
      }
      continue;
    }
    if (p.error?.includes('future revision') === true) log.warn({ ...fields, error: p.error }, 'cannot fetch hash from slow remote peer');
    else if (p.error?.includes('compacted') === true) log.warn({ ...fields, error: p.error }, 'cannot fetch hash from remote peer; local member is behind');
    else log.warn({ ...fields, error: p.error }, 'cannot fetch hash from remote peer');
  }
  if (mismatch > 0) throw new StartRefusal('data-dir', `${self} found data inconsistency with peers`);
  log.info({ 'local-member-id': self }, 'initial corruption checking passed; no corruption');
}

/** etcd checkHashKV, run by the leader; raises CORRUPT at most once per round. */
export async function checkHashKV(deps: CorruptCheckDeps): Promise<boolean> {
  const log = deps.logger;
  const first = await deps.localHash();
  const peers = await peerHashes(deps, first.revision);
  await deps.readIndex();
  const second = await deps.localHash();
  let alarmed = false;
  const mismatch = async (): Promise<void> => {
    if (alarmed) return;
    alarmed = true;
    await deps.raiseCorrupt();
  };
  if (second.hash !== first.hash && second.revision === first.revision && second.compactRevision === first.compactRevision) {
    log.warn(
      {
        'revision-1': first.revision,
        'compact-revision-1': first.compactRevision,
        'hash-1': first.hash,
        'revision-2': second.revision,
        'compact-revision-2': second.compactRevision,
        'hash-2': second.hash,
      },
      'found hash mismatch',
    );
    await mismatch();
  }
  let checked = 0;
  for (const p of peers) {
    if (p.resp === undefined) continue;
    checked++;
    const id = hex(p.peer.id);
    if (p.resp.revision > second.revision) {
      log.warn(
        { 'leader-revision': second.revision, 'follower-revision': p.resp.revision, 'follower-peer-id': id },
        "revision from follower must be less than or equal to leader's",
      );
      await mismatch();
    }
    if (p.resp.compactRevision > second.compactRevision) {
      log.warn(
        { 'leader-compact-revision': second.compactRevision, 'follower-compact-revision': p.resp.compactRevision, 'follower-peer-id': id },
        "compact revision from follower must be less than or equal to leader's",
      );
      await mismatch();
    }
    if (p.resp.compactRevision === first.compactRevision && p.resp.hash !== first.hash) {
      log.warn(
        {
          'leader-compact-revision': second.compactRevision,
          'leader-hash': first.hash,
          'follower-compact-revision': p.resp.compactRevision,
          'follower-hash': p.resp.hash,
          'follower-peer-id': id,
        },
        'same compact revision then hashes must match',
      );
      await mismatch();
    }
  }
  log.info({ 'number-of-peers-checked': checked }, 'finished peer corruption check');
  return alarmed;
}

/** etcd monitorKVHash: every `intervalMs` the leader runs checkHashKV. */
export function startCorruptMonitor(deps: CorruptCheckDeps, intervalMs: number): { stop(): void } {
  let stopped = false;
  deps.logger.info({ 'local-member-id': hex(deps.selfId), interval: `${intervalMs}ms` }, 'enabled corruption checking');
  const round = (): void => {
    if (stopped) return;
    const run = deps.isLeader()
      ? checkHashKV(deps).then(
          () => undefined,
          (err: unknown) => deps.logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'failed to check hash KV'),
        )
      : Promise.resolve();
    void run.then(() => {
      if (!stopped) deps.scheduler.after(intervalMs, round);
    });
  };
  deps.scheduler.after(intervalMs, round);
  return {
    stop: () => {
      stopped = true;
    },
  };
}
