/**
 * Requests on the peer port (the receiving side of the transport):
 *
 *   POST /raft/stream/message | /raft/stream/msgapp  a sender's endless stream of frames
 *   POST /raft/snapshot                               one snapshot (snapshot-codec.ts)
 *   GET  /members                                     the member list (JSON), for joiners
 *   GET  /version                                     {"etcdserver", "etcdcluster"}
 *
 * Raft requests are admitted only with this cluster's id (412 and an error line on
 * both sides otherwise), from a member that was not removed (410), addressed to this
 * member (412). Every message must come from the member the headers name and be
 * addressed to this member; a frame that does not decode, or breaks that rule, resets
 * the stream (the sender reconnects) and is logged. A snapshot is stepped into Raft
 * only after onSnapshot staged it and every checksum matched; the answer (204, or
 * 400 damaged / 500 not installed) tells the sender.
 */
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { decodeMessage } from '../../raft/codec.js';
import { MessageType, type Message } from '../../raft/types.js';
import { idToHex } from '../../shared/ids.js';
import type { Logger } from '../../shared/logger.js';
import { FrameDecoder, PeerStreamCorruptError } from './frame.js';
import {
  clusterIdMismatchLine,
  HEADER_CLUSTER_ID,
  HEADER_FROM,
  HEADER_TO,
  headerId,
  PATH_MEMBERS,
  PATH_SNAPSHOT,
  PATH_STREAM_MESSAGE,
  PATH_STREAM_MSGAPP,
  PATH_VERSION,
  STATUS_BAD_REQUEST,
  STATUS_FORBIDDEN,
  STATUS_GONE,
  STATUS_INTERNAL,
  STATUS_NO_CONTENT,
  STATUS_NOT_FOUND,
  STATUS_OK,
  STATUS_PRECONDITION_FAILED,
} from './headers.js';
import { LogLimiter } from './log-limiter.js';
import type { TransportCounters } from './peer-context.js';
import { SnapshotBodyReader } from './snapshot-codec.js';
import type { PeerCounters, PeerTransportOptions, TransportLimits } from './types.js';

const LOG_PERIOD_MS = 10_000;

export interface HandlerDeps {
  readonly opts: PeerTransportOptions;
  readonly limits: TransportLimits;
  readonly metrics: TransportCounters;
  readonly logger: Logger;
  countersFor(id: bigint): PeerCounters;
  /** False once the transport stopped: nothing more reaches the server. */
  live(): boolean;
}

export class PeerHandler {
  private readonly limiter = new LogLimiter(LOG_PERIOD_MS);

  constructor(private readonly deps: HandlerDeps) {}

  handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const method = headers[':method'];
    const path = String(headers[':path'] ?? '').split('?')[0];
    const o = this.deps.opts;
    if (method === 'GET' && path === PATH_MEMBERS) this.json(stream, o.members());
    else if (method === 'GET' && path === PATH_VERSION) this.json(stream, o.version());
    else if (method === 'POST' && (path === PATH_STREAM_MESSAGE || path === PATH_STREAM_MSGAPP)) {
      const from = this.admit(stream, headers, path);
      if (from !== undefined)
        this.acceptStream(stream, from, path === PATH_STREAM_MSGAPP ? 'msgapp' : 'message');
    } else if (method === 'POST' && path === PATH_SNAPSHOT) {
      const from = this.admit(stream, headers, path);
      if (from !== undefined) void this.receiveSnapshot(stream, from);
    } else this.reply(stream, STATUS_NOT_FOUND, `404 page not found: ${String(method)} ${path}`);
  }

  rejected(stream: ServerHttp2Stream, reason: string): void {
    if (this.limiter.allow(`rejected:${reason}`, this.deps.opts.clock.nowMs())) {
      this.deps.logger.warn({ reason }, 'rejected peer connection: certificate checks failed');
    }
    this.reply(stream, STATUS_FORBIDDEN, reason);
  }

  /** Check the identity headers; answer and return undefined when refused. */
  private admit(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    path: string,
  ): bigint | undefined {
    const o = this.deps.opts;
    const cluster = headerId(headers, HEADER_CLUSTER_ID);
    const from = headerId(headers, HEADER_FROM);
    const to = headerId(headers, HEADER_TO);
    if (cluster === undefined || from === undefined) {
      this.reply(stream, STATUS_BAD_REQUEST, `missing ${HEADER_CLUSTER_ID} or ${HEADER_FROM}`);
      return undefined;
    }
    const fields = { remotePeerId: idToHex(from), path };
    const now = o.clock.nowMs();
    if (cluster !== o.clusterId) {
      this.deps.metrics.refusedClusterMismatch++;
      const line = clusterIdMismatchLine(o.clusterId, cluster);
      if (this.limiter.allow(`cluster:${idToHex(from)}`, now)) this.deps.logger.error(fields, line);
      this.reply(stream, STATUS_PRECONDITION_FAILED, line);
      return undefined;
    }
    if (o.isRemoved(from)) {
      this.deps.metrics.refusedRemoved++;
      if (this.limiter.allow(`removed:${idToHex(from)}`, now)) {
        this.deps.logger.warn(fields, 'rejected stream from a removed member');
      }
      this.reply(stream, STATUS_GONE, 'removed member');
      return undefined;
    }
    if (to !== undefined && to !== o.memberId) {
      const line = `request for member ${idToHex(to)} reached member ${idToHex(o.memberId)}`;
      if (this.limiter.allow(`to:${idToHex(from)}`, now)) this.deps.logger.error(fields, line);
      this.reply(stream, STATUS_PRECONDITION_FAILED, line);
      return undefined;
    }
    return from;
  }

  private acceptStream(stream: ServerHttp2Stream, from: bigint, kind: 'message' | 'msgapp'): void {
    const o = this.deps.opts;
    const counters = this.deps.countersFor(from);
    const decoder = new FrameDecoder(this.deps.limits.maxFrameBytes);
    let broken = false;
    stream.respond(this.responseHeaders(STATUS_OK), { endStream: false });
    this.deps.logger.debug(
      { remotePeerId: idToHex(from), streamType: kind },
      'peer stream accepted',
    );
    stream.on('data', (chunk: Buffer) => {
      if (broken) return;
      counters.receivedBytes += chunk.length;
      const messages: Message[] = [];
      try {
        for (const frame of decoder.push(chunk))
          messages.push(this.checkMessage(decodeMessage(frame), from));
      } catch (err) {
        if (!(err instanceof RangeError || err instanceof PeerStreamCorruptError)) throw err;
        broken = true;
        counters.receiveFailures++;
        this.deps.logger.warn(
          { remotePeerId: idToHex(from), err: err.message },
          'reset a malformed peer stream',
        );
        stream.close(constants.NGHTTP2_PROTOCOL_ERROR);
      }
      // Outside the try: an error thrown by the server's step is not the peer's fault.
      for (const m of messages) {
        counters.receivedMessages++;
        if (this.deps.live()) o.onMessage(m);
      }
    });
    stream.on('end', () => {
      if (!stream.destroyed) stream.end();
    });
  }

  /** A message must be what its stream says: from the sender, to this member. */
  private checkMessage(m: Message, from: bigint): Message {
    const local = this.deps.opts.memberId;
    if (m.from !== from || m.to !== local) {
      throw new PeerStreamCorruptError(
        `message from ${idToHex(m.from)} to ${idToHex(m.to)} ` +
          `on a stream from ${idToHex(from)} to ${idToHex(local)}`,
      );
    }
    if (m.type === MessageType.Snap)
      throw new PeerStreamCorruptError('MsgSnap outside /raft/snapshot');
    return m;
  }

  private async receiveSnapshot(stream: ServerHttp2Stream, from: bigint): Promise<void> {
    const o = this.deps.opts;
    const counters = this.deps.countersFor(from);
    const log = this.deps.logger.child({ remotePeerId: idToHex(from) });
    const max = this.deps.limits.maxFrameBytes;
    const reader = new SnapshotBodyReader(counted(stream, counters), {
      maxHeaderBytes: max,
      maxChunkBytes: max,
    });
    const startMs = o.clock.nowMs();
    counters.snapshotsReceiving++;
    try {
      const m = decodeMessage(await reader.readHeader());
      if (m.type !== MessageType.Snap || m.snapshot === undefined)
        throw new PeerStreamCorruptError('snapshot: not a MsgSnap');
      if (m.from !== from || m.to !== o.memberId)
        throw new PeerStreamCorruptError('snapshot: wrong sender or receiver');
      const meta = m.snapshot.metadata;
      log.info({ index: meta.index, term: meta.term }, 'receiving database snapshot');
      await o.onSnapshot(m, reader.chunks());
      if (!reader.complete)
        throw new Error('snapshot: onSnapshot returned before reading all the data');
      if (!this.deps.live()) throw new Error('snapshot: the transport stopped');
      o.onMessage(m);
      counters.snapshotsReceived++;
      o.onSnapshotTimed?.('receive', from, (o.clock.nowMs() - startMs) / 1000);
      log.info(
        { index: meta.index, bytes: reader.dataBytes },
        'received and installed database snapshot',
      );
      this.reply(stream, STATUS_NO_CONTENT, '');
    } catch (err) {
      counters.snapshotsReceiveFailed++;
      const damaged = err instanceof PeerStreamCorruptError || err instanceof RangeError;
      if (damaged) counters.receiveFailures++;
      const msg = (err as Error).message;
      log.warn(
        { err: msg },
        damaged ? 'refused a damaged database snapshot' : 'failed to install database snapshot',
      );
      this.reply(stream, damaged ? STATUS_BAD_REQUEST : STATUS_INTERNAL, msg);
    } finally {
      counters.snapshotsReceiving--;
    }
  }

  private responseHeaders(status: number, contentType?: string): Record<string, string | number> {
    const o = this.deps.opts;
    const h: Record<string, string | number> = {
      ':status': status,
      [HEADER_CLUSTER_ID]: idToHex(o.clusterId),
      [HEADER_FROM]: idToHex(o.memberId),
    };
    if (contentType !== undefined) h['content-type'] = contentType;
    return h;
  }

  private json(stream: ServerHttp2Stream, body: unknown): void {
    if (stream.destroyed || stream.headersSent) return;
    stream.respond(this.responseHeaders(STATUS_OK, 'application/json'));
    stream.end(JSON.stringify(body));
  }

  /** Answer and finish, then cancel whatever of the request body is still unread. */
  private reply(stream: ServerHttp2Stream, status: number, text: string): void {
    if (stream.destroyed) return;
    if (stream.headersSent) {
      stream.close(constants.NGHTTP2_CANCEL);
      return;
    }
    const endStream = status === STATUS_NO_CONTENT;
    stream.respond(this.responseHeaders(status, 'text/plain; charset=utf-8'), { endStream });
    const done = (): void => {
      if (status >= 300 && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
    };
    if (endStream) done();
    else stream.end(text, done);
  }
}

/**
 * The request body, counting received bytes for the sender's metrics. A stream the
 * sender reset or lost midway is a truncated snapshot, i.e. damaged input.
 */
async function* counted(stream: ServerHttp2Stream, counters: PeerCounters): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      counters.receivedBytes += chunk.length;
      yield chunk;
    }
  } catch (err) {
    throw new PeerStreamCorruptError(
      `snapshot: the request stream broke: ${(err as Error).message}`,
    );
  }
}
