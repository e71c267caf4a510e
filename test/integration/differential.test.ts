/**
 * Differential test of the KV API: fast-check generates sequences
 * of KV operations (put with prev_kv / ignore_value / ignore_lease, delete ranges with
 * prev_kv, ranges with every option, txns with nested txns and failing compares of
 * every target and result, compactions, HashKV) over a tiny colliding key alphabet
 * (diff/kv-ops.ts), and, about one in ten, watch and lease operations (
 * diff/watch-lease-ops.ts: fenced watches from past, present and future revisions with
 * prev_kv and filters; lease grant with server-assigned or chosen ids, leased puts,
 * revoke, TimeToLive, a keep-alive, LeaseLeases; lease ids named per sequence). Every operation goes to a real etcd 3.4.23 (the oracle) and to
 * tsetcd (TSETCD_TARGET=etcd: a second real etcd, which must pass too), and the two
 * normalised answers (test/helpers/kv-normalise.ts) must be equal, errors by gRPC
 * code and message.
 *
 * One server pair serves all sequences (plain http on loopback; mTLS is the etcdctl
 * test's business). Each sequence has its own key prefix d/<n>/ and compares
 * revisions relative to the base revision it found on each server at its start, so
 * sequences do not see each other. Compaction and HashKV are global: a sequence only
 * compacts above its own base, and HashKV's hash is compared only while both servers
 * have answered everything alike (so far they executed the same history from fresh
 * data dirs) and no known difference applies. A sentinel key that is never deleted
 * keeps etcd's HashKV "keep" set non-empty, which makes HashKV independent of when a
 * non-physical compaction finishes its deletions.
 *
 * Knobs: DIFF_SEQUENCES (default 200), DIFF_OPS (default 50), DIFF_SEED and DIFF_PATH
 * (replay one failing sequence), DIFF_SHRINK=1 (let fast-check shrink a failure),
 * DIFF_KEEP_GOING=1 (collect every kind of mismatch instead of stopping at the first).
 * A failure prints `seed=... path=...` and a one-line replay command. Sequences that once
 * failed run first, as regression cases (REGRESSION_CASES), then the random ones.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { EtcdGrpcClient, Reply } from '../helpers/grpc-client.js';
import { connectMember, expectOk } from '../helpers/grpc-client.js';
import type { RevisionFrame } from '../helpers/kv-normalise.js';
import {
  firstDifference,
  normaliseReply,
  normaliseValue,
  relRevision,
} from '../helpers/kv-normalise.js';
import type { Member, Target } from '../helpers/processes.js';
import {
  dumpMemberLogsOnFailure,
  startMember,
  stopAllMembers,
  targetFromEnv,
} from '../helpers/processes.js';
import type { KeyRef, KvOp, SequenceFrame } from './diff/kv-ops.js';
import {
  compactRequest,
  compactRevision,
  deleteRequest,
  hasInvalidSort,
  hashKVRequest,
  putRequest,
  rangeRequest,
  txnRequest,
} from './diff/kv-ops.js';
import type { DiffOp } from './diff/watch-lease-ops.js';
import {
  diffSequenceArb,
  dropTombstoneAtCompaction,
  executeWatchLease,
  isWatchLeaseOp,
  LeaseBook,
  normaliseWatchLease,
  watchLeaseRequest,
  watchStartRevision,
} from './diff/watch-lease-ops.js';

const SEQUENCES = Number(process.env['DIFF_SEQUENCES'] ?? 200);
const OPS_PER_SEQUENCE = Number(process.env['DIFF_OPS'] ?? 50);
const SEED =
  process.env['DIFF_SEED'] === undefined
    ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0
    : Number(process.env['DIFF_SEED']);
const PATH = process.env['DIFF_PATH'];
const SHRINK = process.env['DIFF_SHRINK'] === '1';
/** Development aid: record mismatches and go on (the test still fails), to list many at once. */
const KEEP_GOING = process.env['DIFF_KEEP_GOING'] === '1';
const TEST_TIMEOUT_MS = Number(process.env['DIFF_TIMEOUT_MS'] ?? 300_000);
const SHOWN_HISTORY = 8;
const SENTINEL_KEY = Buffer.from('d/!sentinel'); // sorts before every d/<n>/ prefix

/**
 * Known etcd 3.4.23 vs 3.5 differences (tsetcd targets 3.5). These, and nothing else,
 * are normalised; each entry says where it shows in this test and how it is handled.
 *
 * 1. Tombstone kept at exactly the compaction revision (etcd #18089, fixed by PR
 *    #18274 in 3.5.16 and 3.4.34; 3.4.23 predates it). When a key's tombstone sits at
 *    the compaction revision C, 3.5 keeps it (in the key index and the backend) until a
 *    later compaction above C; 3.4.23 drops it at C. Range, Txn and counts do not show
 *    it; HashKV's hash does (the tombstone is hashed, or kept in the hash's keep set).
 *    Handled: the hash is not compared from such a compaction until the next
 *    compaction at a revision that is not a tombstone revision.
 * 2. HashKVResponse.hash_revision is a 3.6 field (3.4 and 3.5 leave it 0). Handled: if
 *    the subject fills it, it must equal the revision hashed (the request's, or the
 *    current one for 0); then it is dropped from both answers.
 * 3. Unknown sort options. 3.4.23 validates neither enum: an unknown sort_order is
 *    ignored (unsorted answer), an unknown sort_target crashes the member with a nil
 *    sorter (etcd #13554, seen here: SIGSEGV in applierV3backend.Range). Later
 *    releases validate them in v3rpc checkRangeRequest and answer InvalidArgument
 *    "etcdserver: invalid sort option", which tsetcd follows.
 *    Handled: a top-level Range with an unknown sort option is not sent to the oracle;
 *    the subject must answer that error ("key is not provided" first for an empty
 *    key, as checkRangeRequest checks the key first). Txns only carry valid ones.
 * 4. HashKV at exactly the compaction revision: 3.4.23 answers ErrCompacted
 *    (HashByRev: rev <= compactRev); 3.5 hashes it (etcd #14325, PR #14457: only
 *    rev < compactRev is compacted). Handled: where the oracle answers ErrCompacted
 *    for the compaction revision itself, the subject must answer successfully with
 *    compact_revision = that revision; its hash is not compared (no oracle hash).
 * 5. HashKV at an earlier compaction's revision (below the current compaction):
 *    3.4.23 answers ErrCompacted; 3.5.5+ keeps the hashes its last 10 compactions
 *    computed (hashStorage, etcd PR #14049) and answers HashKV at such a revision from
 *    them, with compact_revision = the compaction before it. Handled like 4: the
 *    subject must answer with compact_revision = that earlier compaction (or, without a
 *    stored hash, the revision itself); its hash is not compared. ErrCompacted is
 *    also 3.5's answer while that compaction has not stored its hash yet (it is
 *    stored when the background compaction finishes), so the subject may give it.
 */
const KNOWN_DIFFERENCES = [
  'tombstone-at-compaction-revision (#18089; for watches: events at that revision left out)',
  'hashkv-hash-revision (3.6 field)',
  'invalid-sort-option (3.4.23 unvalidated, #13554)',
  'hashkv-at-compaction-revision (#14325)',
  'hashkv-from-stored-compaction-hashes (3.5.5+ hashStorage)',
] as const;
const COMPACTED = 'etcdserver: mvcc: required revision has been compacted';

interface Side {
  readonly label: string;
  readonly member: Member;
  readonly client: EtcdGrpcClient;
}

const target: Target = targetFromEnv();
let oracle: Side;
let subject: Side;

/** Global facts about the shared server pair, carried across sequences. */
const pair = {
  sequenceCounter: 0,
  /** False after the first mismatch: from then on the histories may differ. */
  inSync: true,
  /** Revisions (oracle's numbering) at which some key got a tombstone. */
  tombstoneRevisions: new Set<number>(),
  /** Set while a tombstone at the last compaction revision exists (difference 1). */
  tombstoneAtCompaction: undefined as number | undefined,
  /** The last compaction revision (oracle's numbering; 0: none yet). */
  lastCompaction: 0,
  /** The last 10 compaction revisions (etcd 3.5 keeps a hash for each). */
  compactions: [] as number[],
  opsExecuted: 0,
  /** Outcome counts per operation kind (printed, to judge what the sequences reach). */
  outcomes: new Map<string, number>(),
  hashesCompared: 0,
  /** DIFF_KEEP_GOING: first mismatch report per signature, and how often each was seen. */
  mismatches: new Map<string, { count: number; report: string }>(),
};

function countOutcome(op: DiffOp, reply: Reply<unknown>): void {
  const value = reply.ok ? (reply.value as { succeeded?: boolean; kvs?: unknown[] }) : undefined;
  let what = `${op.op} ok`;
  if (!reply.ok) what = `${op.op} ${reply.error.details.replace(/^etcdserver: /, '')}`;
  else if (op.op === 'txn') what = `txn ${value?.succeeded === true ? 'succeeded' : 'failed'}`;
  else if (op.op === 'range')
    what = `range ${(value?.kvs?.length ?? 0) > 0 ? 'with kvs' : 'empty'}`;
  pair.outcomes.set(what, (pair.outcomes.get(what) ?? 0) + 1);
}

beforeAll(async () => {
  const [o, s] = await Promise.all([
    startMember({ target: 'etcd', name: 'oracle' }),
    startMember({ target, name: 'subject' }),
  ]);
  oracle = { label: 'etcd 3.4.23', member: o, client: connectMember(o) };
  subject = {
    label: target === 'etcd' ? 'etcd 3.4.23 (as subject)' : 'tsetcd',
    member: s,
    client: connectMember(s),
  };
  for (const side of [oracle, subject])
    expectOk(
      await side.client.put({ key: SENTINEL_KEY, value: Buffer.from('x') }),
      `sentinel put on ${side.label}`,
    );
}, 60_000);
afterAll(async () => {
  oracle?.client.close();
  subject?.client.close();
  await stopAllMembers();
}, 30_000);
dumpMemberLogsOnFailure();

function execute(client: EtcdGrpcClient, op: KvOp, frame: SequenceFrame): Promise<Reply<unknown>> {
  switch (op.op) {
    case 'put':
      return client.put(putRequest(op, frame));
    case 'delete':
      return client.deleteRange(deleteRequest(op, frame));
    case 'range':
      return client.range(rangeRequest(op, frame));
    case 'txn':
      return client.txn(txnRequest(op, frame));
    case 'compact':
      return client.compact(compactRequest(op, frame));
    case 'hashkv':
      return client.hashKV(hashKVRequest(op, frame));
  }
}

function requestFor(op: DiffOp, frame: SequenceFrame, book: LeaseBook): unknown {
  if (isWatchLeaseOp(op)) return watchLeaseRequest(op, frame, book);
  switch (op.op) {
    case 'put':
      return putRequest(op, frame);
    case 'delete':
      return deleteRequest(op, frame);
    case 'range':
      return rangeRequest(op, frame);
    case 'txn':
      return txnRequest(op, frame);
    case 'compact':
      return compactRequest(op, frame);
    case 'hashkv':
      return hashKVRequest(op, frame);
  }
}

/** Whether a decoded Txn/DeleteRange answer deleted at least one key (nested txns too). */
function deletedSomething(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  if (typeof v['deleted'] === 'string' && v['deleted'] !== '0') return true;
  for (const [k, child] of Object.entries(v)) {
    if (k === 'prevKvs' || k === 'kvs' || k === 'header') continue;
    if (Array.isArray(child) ? child.some(deletedSomething) : deletedSomething(child)) return true;
  }
  return false;
}

/** Updates the pair's global facts from the oracle's answer (its revision numbering). */
function track(op: DiffOp, reply: Reply<unknown>, frame: SequenceFrame): void {
  if (!reply.ok) return;
  const header = (reply.value as { header?: { revision?: string } }).header;
  const deletes = ['delete', 'txn', 'lease-revoke', 'watch'].includes(op.op);
  if (deletes && deletedSomething(reply.value)) {
    pair.tombstoneRevisions.add(Number(header?.revision));
  }
  if (op.op === 'compact') {
    const at = compactRevision(op, frame);
    pair.tombstoneAtCompaction = pair.tombstoneRevisions.has(at) ? at : undefined;
    pair.compactions.push(at);
    if (pair.compactions.length > 10) pair.compactions.shift();
    pair.lastCompaction = at;
  }
}

interface Compared {
  readonly o: unknown;
  readonly s: unknown;
  /** Set when the subject broke a rule that a known difference still imposes. */
  readonly problem?: string;
}

/** Applies KNOWN_DIFFERENCES 1, 2 and 4 to the normalised answers of a HashKV. */
function applyKnownDifferences(
  op: DiffOp,
  o: unknown,
  s: unknown,
  oFrame: SequenceFrame,
  sFrame: SequenceFrame,
): Compared {
  if (op.op === 'watch') {
    // Difference 1 for watches: 3.4.23 lost the tombstone at the compaction revision.
    const at = pair.tombstoneAtCompaction;
    if (target === 'etcd' || at === undefined || watchStartRevision(op, oFrame) !== at)
      return { o, s };
    const rel = relRevision(at, oFrame.base);
    return { o: dropTombstoneAtCompaction(o, rel), s: dropTombstoneAtCompaction(s, rel) };
  }
  if (op.op !== 'hashkv') return { o, s };
  const oo = o as Record<string, unknown>;
  const ss = s as Record<string, unknown>;
  const hashedAt = hashKVRequest(op, oFrame).revision as number;
  const at = pair.compactions.lastIndexOf(hashedAt);
  if (target !== 'etcd' && hashedAt !== 0 && at >= 0 && oo['details'] === COMPACTED) {
    // Differences 4 and 5: 3.5 hashes at a compaction revision (the current one, or an
    // earlier one from its stored hashes).
    const which = hashedAt === pair.lastCompaction ? KNOWN_DIFFERENCES[3] : KNOWN_DIFFERENCES[4];
    if ('error' in ss) {
      // 3.5 answers an earlier compaction's revision from the hash that compaction
      // stored when it finished; until then (a non-physical compaction still running
      // when a later one is applied) or once it is out of the last 10, it answers
      // ErrCompacted like 3.4.23. The current compaction's revision is always hashed.
      if (which === KNOWN_DIFFERENCES[4] && ss['details'] === COMPACTED) return { o, s };
      return { o, s, problem: `${which}: 3.5 answers HashKV at a compaction revision` };
    }
    // Before the server's first compaction its stored hash names -1 (never compacted).
    const before = at > 0 ? pair.compactions[at - 1] : -1;
    const allowed = [hashedAt, ...(before !== undefined ? [before] : [])].map((r) => relRevision(r, oFrame.base));
    if (!allowed.includes(ss['compactRevision'] as number)) {
      return {
        o,
        s,
        problem:
          `HashKV compact_revision ${String(ss['compactRevision'])}` +
          ` is neither the compaction revision nor the one before it (${allowed.map(String).join(', ')})`,
      };
    }
    return { o, s: o };
  }
  if ('error' in oo || 'error' in ss) return { o, s };
  const hashRevision = ss['hashRevision'];
  if (hashRevision !== 0 && oo['hashRevision'] === 0) {
    // Difference 2: a 3.6 field; if filled, it must name the revision hashed.
    const expected =
      op.revision === 0
        ? (ss['header'] as Record<string, unknown> | null)?.['revision']
        : relRevision(hashKVRequest(op, sFrame).revision, sFrame.base);
    if (hashRevision !== expected)
      return {
        o,
        s,
        problem: `hash_revision ${String(hashRevision)} is not the hashed ${String(expected)}`,
      };
    ss['hashRevision'] = 0;
  }
  let skip: string | undefined;
  if (!pair.inSync) skip = 'histories differ';
  else if (pair.tombstoneAtCompaction !== undefined) skip = KNOWN_DIFFERENCES[0]; // difference 1
  if (skip !== undefined) {
    oo['hash'] = `<not compared: ${skip}>`;
    ss['hash'] = `<not compared: ${skip}>`;
  } else {
    pair.hashesCompared++;
  }
  return { o, s };
}

async function baseRevision(side: Side, prefix: Buffer): Promise<number> {
  const r = expectOk(await side.client.range({ key: prefix }), `base revision on ${side.label}`);
  return Number(r.header?.revision);
}

/** Known difference 3: what 3.5+ answers for a Range with an unknown sort option. */
function expectedInvalidSortReply(key: KeyRef): Promise<Reply<unknown>> {
  const details =
    key === 'empty' ? 'etcdserver: key is not provided' : 'etcdserver: invalid sort option';
  return Promise.resolve({ ok: false, error: { code: 3, codeName: 'INVALID_ARGUMENT', details } });
}

class Mismatch extends Error {}

function shortError(v: unknown): string {
  const details = (v as { details?: unknown } | null)?.['details'];
  return typeof details === 'string' ? details : 'ok';
}

async function runSequence(ops: readonly DiffOp[]): Promise<void> {
  const id = pair.sequenceCounter++;
  const prefix = Buffer.from(`d/${String(id).padStart(6, '0')}/`);
  const [oBase, sBase] = await Promise.all([
    baseRevision(oracle, prefix),
    baseRevision(subject, prefix),
  ]);
  let currentRel = 0; // revisions written by this sequence, from the oracle's headers
  const oBook = new LeaseBook();
  const sBook = new LeaseBook();
  for (let i = 0; i < ops.length; i++) {
    const oFrame: SequenceFrame & RevisionFrame = { prefix, base: oBase, currentRel };
    const sFrame: SequenceFrame & RevisionFrame = { prefix, base: sBase, currentRel };
    const op = ops[i];
    if (op === undefined) continue;
    // Known difference 3: a real etcd as the subject would crash too; nothing to compare.
    if (target === 'etcd' && op.op === 'range' && hasInvalidSort(op)) continue;
    const [oReply, sReply] = await Promise.all(
      isWatchLeaseOp(op)
        ? [
            executeWatchLease(oracle.client, oracle.member.clientAddress, op, oFrame, oBook),
            executeWatchLease(subject.client, subject.member.clientAddress, op, sFrame, sBook),
          ]
        : [
            op.op === 'range' && hasInvalidSort(op)
              ? expectedInvalidSortReply(op.key)
              : execute(oracle.client, op, oFrame),
            execute(subject.client, op, sFrame),
          ],
    );
    pair.opsExecuted++;
    countOutcome(op, oReply);
    if (oReply.ok)
      currentRel = Math.max(
        currentRel,
        Number((oReply.value as { header?: { revision?: string } }).header?.revision ?? oBase) -
          oBase,
      );
    track(op, oReply, oFrame);
    let o = normaliseReply(oReply, oFrame);
    let s = normaliseReply(sReply, sFrame);
    o = normaliseWatchLease(op, o, oBook);
    s = normaliseWatchLease(op, s, sBook);
    const { o: oCompared, s: sCompared, problem } = applyKnownDifferences(op, o, s, oFrame, sFrame);
    if (problem !== undefined || !isDeepStrictEqual(oCompared, sCompared)) {
      pair.inSync = false;
      const lines = [
        `mismatch at step ${i} of sequence #${id} (prefix ${prefix.toString('latin1')},` +
          ` base etcd=${oBase} ${subject.label}=${sBase})`,
        problem ?? '',
        `operation: ${JSON.stringify(op)}`,
        `request (normalised): ${JSON.stringify(normaliseValue(requestFor(op, oFrame, oBook), oFrame))}`,
        `${oracle.label}: ${JSON.stringify(o)}`,
        `${subject.label}: ${JSON.stringify(s)}`,
        `the ${Math.min(i, SHOWN_HISTORY)} operations before it (of ${i}; a replay runs them all):`,
        ...ops.slice(Math.max(0, i - SHOWN_HISTORY), i).map((h) => `  ${JSON.stringify(h)}`),
      ];
      const report = lines.filter((l) => l !== '').join('\n');
      if (!KEEP_GOING) throw new Mismatch(report);
      const where = firstDifference(oCompared, sCompared);
      const answers = `${problem ?? shortError(oCompared)} / ${shortError(sCompared)}`;
      const signature = `${op.op} at ${where}: ${answers}`;
      const seen = pair.mismatches.get(signature);
      pair.mismatches.set(signature, {
        count: (seen?.count ?? 0) + 1,
        report: seen?.report ?? report,
      });
    }
  }
}

/**
 * Sequences that once failed, replayed before the random ones on the fresh server pair
 * (as a DIFF_SEED/DIFF_PATH replay runs them), so a fixed bug stays fixed. Add each new
 * find here with the fix; `ops` is the DIFF_OPS it was found with.
 */
const REGRESSION_CASES: ReadonlyArray<{ seed: number; path: string; ops: number; found: string }> = [
  {
    seed: 2013657515,
    path: '142',
    ops: 50,
    found: 'watch with prev_kv from the compaction revision: etcd sends no prev_kv for the event at it',
  },
];

interface PropertyRun {
  readonly seed: number;
  readonly path: string | undefined;
  readonly numRuns: number;
  readonly ops: number;
}

/** Runs the property; fails the test with the seed, path and a replay command. */
async function checkProperty(run: PropertyRun): Promise<number> {
  const started = Date.now();
  const details = await fc.check(
    fc.asyncProperty(diffSequenceArb(run.ops), async (ops) => {
      await runSequence(ops);
    }),
    {
      numRuns: run.numRuns,
      seed: run.seed,
      endOnFailure: !SHRINK,
      ...(run.path === undefined ? {} : { path: run.path }),
    },
  );
  const elapsedMs = Date.now() - started;
  console.log(
    `differential: ${details.numRuns} sequences, ${pair.opsExecuted} operations per server,` +
      ` ${elapsedMs} ms, seed=${run.seed}, HashKV hashes compared: ${pair.hashesCompared},` +
      ` known differences normalised: ${KNOWN_DIFFERENCES.join('; ')}\n` +
      [...pair.outcomes.entries()]
        .sort()
        .map(([k, n]) => `  ${k}: ${n}`)
        .join('\n'),
  );
  if (pair.mismatches.size > 0) {
    const groups = [...pair.mismatches.entries()].map(
      ([sig, m]) => `=== ${m.count}x ${sig}\n${m.report}`,
    );
    expect.fail(
      `${pair.mismatches.size} kinds of mismatch (DIFF_KEEP_GOING, seed=${run.seed}):\n` +
        groups.join('\n\n'),
    );
  }
  if (details.failed) {
    const path = details.counterexamplePath ?? '';
    const replay =
      `DIFF_SEED=${details.seed} DIFF_PATH=${path} ` +
      (run.ops !== 50 ? `DIFF_OPS=${run.ops} ` : '') +
      (target === 'etcd' ? 'TSETCD_TARGET=etcd ' : '') +
      'npx vitest run --config test/vitest.config.ts test/integration/differential.test.ts';
    const cause =
      details.errorInstance instanceof Error
        ? details.errorInstance.message
        : String(details.errorInstance);
    expect.fail(`seed=${details.seed} path=${path}\nreplay: ${replay}\n${cause}`);
  }
  return details.numRuns;
}

// A replay (DIFF_PATH) runs only the sequence it names.
if (PATH === undefined) {
  for (const c of REGRESSION_CASES) {
    it(
      `regression seed=${c.seed} path=${c.path}: ${c.found}`,
      async () => {
        expect(await checkProperty({ seed: c.seed, path: c.path, numRuns: 1, ops: c.ops })).toBe(1);
      },
      TEST_TIMEOUT_MS,
    );
  }
}

it(
  `${target} answers KV requests like etcd 3.4.23 (${SEQUENCES} x ${OPS_PER_SEQUENCE} ops)`,
  async () => {
    // A replay runs the one sequence it names (fast-check would go on past a passing path).
    const numRuns = await checkProperty({
      seed: SEED,
      path: PATH,
      numRuns: PATH === undefined ? SEQUENCES : 1,
      ops: OPS_PER_SEQUENCE,
    });
    expect(numRuns).toBeGreaterThan(0);
    if (PATH === undefined) expect(numRuns).toBe(SEQUENCES);
  },
  TEST_TIMEOUT_MS,
);
