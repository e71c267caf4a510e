/**
 * Sending one snapshot to one peer: a separate HTTP/2 connection (so the raft streams
 * keep flowing beside it) carrying POST /raft/snapshot with the body of
 * snapshot-codec.ts. The peer answers only after it staged the data and stepped the
 * message into Raft: 204 means installed, anything else means refused.
 *
 * Failure modes, all reported as a rejection: no URL reachable; the peer refuses
 * (412 / 410 / 400 / 500, logged by refusal.ts); the link dies (keepalive); no write
 * progress for snapshotIdleTimeoutMs; the data source throws; the transport stops.
 * The data iterator is always closed (for-await's return), releasing the db snapshot.
 */
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import type { Cancelable } from '../../shared/scheduler.js';
import { dialPeer, keepalive } from './dial.js';
import { PATH_SNAPSHOT, requestHeaders, STATUS_NO_CONTENT, STATUS_OK } from './headers.js';
import type { PeerContext } from './peer-context.js';
import { reportRefusal } from './refusal.js';
import { encodeSnapshotBody } from './snapshot-codec.js';

const MAX_ERROR_BODY_BYTES = 1024;

export class SnapshotSendError extends Error {
  override readonly name = 'SnapshotSendError';
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

async function dialAny(ctx: PeerContext): Promise<{ session: ClientHttp2Session; url: string }> {
  const errors: string[] = [];
  for (const url of ctx.urls()) {
    try {
      const session = await dialPeer(url, {
        tls: ctx.tls,
        scheduler: ctx.scheduler,
        timeoutMs: ctx.timings.dialTimeoutMs,
      });
      return { session, url };
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  throw new SnapshotSendError(
    `snapshot: no peer URL reachable (${errors.join('; ') || 'no URLs'})`,
  );
}

/** The peer's answer; rejects if the stream closes before it answers. */
function answerOf(req: ClientHttp2Stream): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    let body = '';
    req.once('response', (h) => {
      headers = h;
      status = Number(h[':status']);
    });
    req.on('data', (d: Buffer) => {
      if (body.length < MAX_ERROR_BODY_BYTES) body += d.toString('utf8', 0, MAX_ERROR_BODY_BYTES);
    });
    req.on('error', () => {}); // the 'close' below decides
    req.once('close', () => {
      if (status > 0) resolve({ status, headers, body: body.trim() });
      else
        reject(
          new SnapshotSendError(`snapshot: the peer closed the stream (code ${req.rstCode ?? 0})`),
        );
    });
  });
}

/** Resolves when the stream can take more data or is gone. */
function writable(req: ClientHttp2Stream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      req.off('drain', done);
      req.off('close', done);
      resolve();
    };
    req.once('drain', done);
    req.once('close', done);
  });
}

export async function sendSnapshotBody(
  ctx: PeerContext,
  header: Uint8Array,
  data: AsyncIterable<Uint8Array>,
  signal: AbortSignal,
): Promise<void> {
  const { session, url } = await dialAny(ctx);
  const timers: Cancelable[] = [];
  const onAbort = (): void => void session.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  session.on('error', () => {}); // surfaces as the stream's close
  try {
    const req = session.request(
      requestHeaders('POST', PATH_SNAPSHOT, {
        clusterId: ctx.clusterId,
        from: ctx.localId,
        to: ctx.peerId,
        serverVersion: ctx.serverVersion(),
      }),
      { endStream: false },
    );
    const answer = answerOf(req);
    answer.catch(() => {}); // awaited below; avoid an unhandled rejection meanwhile
    let answered = false;
    req.once('response', () => (answered = true));
    let progress = 0;
    let seen = -1;
    const t = ctx.timings;
    timers.push(
      ctx.scheduler.every(t.snapshotIdleTimeoutMs, () => {
        if (progress === seen) req.destroy(new SnapshotSendError('snapshot: no progress'));
        seen = progress;
      }),
      keepalive(session, ctx.scheduler, t.keepaliveIntervalMs, t.keepaliveTimeoutMs, () =>
        session.destroy(),
      ),
    );
    let sourceError: unknown;
    try {
      for await (const buf of encodeSnapshotBody(header, data, ctx.limits.snapshotChunkBytes)) {
        if (answered || req.destroyed || signal.aborted) break;
        const more = req.write(buf);
        ctx.counters.sentBytes += buf.length;
        progress++;
        if (!more) await writable(req);
      }
      // An early answer is a refusal: stop sending and reset our half of the stream.
      if (!req.destroyed) {
        if (answered) req.close();
        else req.end();
      }
    } catch (err) {
      sourceError = err;
      req.close();
    }
    if (signal.aborted) throw new SnapshotSendError('snapshot: the transport stopped');
    if (sourceError !== undefined) {
      throw new SnapshotSendError(
        `snapshot: reading the data failed: ${(sourceError as Error).message}`,
      );
    }
    const a = await answer;
    if (a.status !== STATUS_NO_CONTENT && a.status !== STATUS_OK) {
      reportRefusal(ctx, 'snapshot', url, a.status, a.headers);
      throw new SnapshotSendError(`snapshot: refused with HTTP ${a.status}: ${a.body}`);
    }
  } finally {
    for (const timer of timers) timer.cancel();
    signal.removeEventListener('abort', onAbort);
    // destroy, not close: a graceful close only half-closes the socket and leaves it to
    // the peer to finish; the answer is in, nothing more is expected on this session.
    if (!session.destroyed) session.destroy();
  }
}
