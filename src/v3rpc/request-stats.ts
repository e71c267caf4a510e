/**
 * The "request stats" line of etcd's unary interceptor (api/v3rpc/interceptor.go
 * logUnaryRequestStats): after each unary call, at debug level when debug logging is
 * on, otherwise as a warning when the call took longer than
 * --warning-unary-request-duration (etcd 3.5; default 300 ms). Fields and their
 * values as etcd computes them: counts and sizes for the four KV calls (a Txn counts
 * the ops of the branch it took), -1 for every other call or a failed one, the request
 * as etcd's redacted text (apply/loggable.ts).
 *
 * Contract: unaryRequestStats never throws for a decoded request/response of the path's
 * types; encoding for sizes happens only when a line is written.
 */
import { compactText, loggablePut, loggableTxn } from '../apply/loggable.js';
import type * as pb from '../generated/pb.js';
import { goDuration, type Logger } from '../shared/logger.js';
import { codec, toNumber } from '../shared/pb-codec.js';

export interface RequestStats {
  readonly 'request count': number;
  readonly 'request size': number;
  readonly 'response count': number;
  readonly 'response size': number;
  readonly 'request content': string;
}

const NONE: RequestStats = {
  'request count': -1,
  'request size': -1,
  'response count': -1,
  'response size': -1,
  'request content': '',
};

const size = (type: string, msg: object): number => codec<object>(`etcdserverpb.${type}`).encode(msg).length;

/** etcd's figures for one KV call's decoded request and response. */
type KvRule = (req: object, res: object) => RequestStats;

/** One case of etcd's switch: the ops counted and their size, the response's count, the text. */
function kvRule<Req extends object, Res extends object>(
  resType: string,
  counted: (req: Req, res: Res) => { count: number; size: number },
  responseCount: (res: Res) => number,
  content: (req: Req) => string,
): KvRule {
  return (rawReq, rawRes) => {
    const req = rawReq as Req;
    const res = rawRes as Res;
    const ops = counted(req, res);
    return {
      'request count': ops.count,
      'request size': ops.size,
      'response count': responseCount(res),
      'response size': size(resType, res),
      'request content': content(req),
    };
  };
}

const KV_RULES: Readonly<Record<string, KvRule>> = {
  '/etcdserverpb.KV/Range': kvRule<pb.RangeRequest, pb.RangeResponse>(
    'RangeResponse',
    (req) => ({ count: 0, size: size('RangeRequest', req) }),
    (res) => toNumber(res.count),
    (req) => compactText('etcdserverpb.RangeRequest', req),
  ),
  '/etcdserverpb.KV/Put': kvRule<pb.PutRequest, pb.PutResponse>(
    'PutResponse',
    (req) => ({ count: 1, size: size('PutRequest', req) }),
    () => 0,
    loggablePut,
  ),
  '/etcdserverpb.KV/DeleteRange': kvRule<pb.DeleteRangeRequest, pb.DeleteRangeResponse>(
    'DeleteRangeResponse',
    (req) => ({ count: 0, size: size('DeleteRangeRequest', req) }),
    (res) => toNumber(res.deleted),
    (req) => compactText('etcdserverpb.DeleteRangeRequest', req),
  ),
  // A Txn counts the ops of the branch it took.
  '/etcdserverpb.KV/Txn': kvRule<pb.TxnRequest, pb.TxnResponse>(
    'TxnResponse',
    (req, res) => {
      const ops = (res.succeeded === true ? req.success : req.failure) ?? [];
      return { count: ops.length, size: ops.reduce((n, op) => n + size('RequestOp', op), 0) };
    },
    () => 0,
    loggableTxn,
  ),
};

/** etcd's per-type figures; `response` undefined when the call failed. */
export function unaryRequestStats(path: string, request: unknown, response: unknown): RequestStats {
  const rule = KV_RULES[path];
  if (rule === undefined || request === null || typeof request !== 'object') return NONE;
  if (response === null || typeof response !== 'object') return NONE;
  return rule(request, response);
}

export interface UnaryCallSeen {
  readonly path: string;
  /** Wall-clock start (ms since the epoch) and duration of the call. */
  readonly startMs: number;
  readonly tookMs: number;
  /**
   * "ip:port" of the client, when the call came over a connection: asked only for a
   * line that is written (reading it costs a string and socket proxy traps per call).
   */
  readonly remote: (() => string | undefined) | undefined;
  readonly request: unknown;
  /** undefined when the call failed. */
  readonly response: unknown;
}

/** Writes etcd's line for one finished unary call, if debug is on or the call was slow. */
export function logRequestStats(log: Logger, debug: boolean, warnAfterMs: number, call: UnaryCallSeen): void {
  if (!debug && !(call.tookMs > warnAfterMs)) return;
  const fields = {
    'start time': new Date(call.startMs).toISOString(),
    'time spent': goDuration(call.tookMs),
    remote: call.remote?.() ?? 'No remote client info.',
    'response type': call.path,
    ...unaryRequestStats(call.path, call.request, call.response),
  };
  if (debug) log.debug(fields, 'request stats');
  else log.warn(fields, 'request stats');
}
