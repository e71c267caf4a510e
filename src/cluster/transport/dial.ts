/**
 * Opening HTTP/2 connections to a peer URL, and keeping them honest.
 *
 * dialPeer: http:// is h2c with prior knowledge, https:// is TLS with ALPN h2 and the
 * peer-client certificate (tls.ts). It resolves once the session is connected, and
 * fails after timeoutMs (a SYN dropped by a partition would otherwise hang for minutes).
 *
 * keepalive: an HTTP/2 PING every intervalMs; a PING unanswered for timeoutMs means the
 * link is dead (a paused or partitioned peer keeps TCP open without error), so the
 * caller tears the session down and redials. Runs on the injected Scheduler.
 */
import { connect, type ClientHttp2Session, type Http2Session } from 'node:http2';
import type { Cancelable, Scheduler } from '../../shared/scheduler.js';
import type { PeerTlsSource } from './tls.js';

/** HTTP/2 windows for bulk raft data: per stream and per connection. */
export const STREAM_WINDOW_BYTES = 1024 * 1024;
export const SESSION_WINDOW_BYTES = 8 * 1024 * 1024;
/** nghttp2's per-session buffer budget (MB); the default 10 is tight for bulk appends. */
export const MAX_SESSION_MEMORY_MB = 64;

export interface DialOptions {
  readonly tls: PeerTlsSource | undefined;
  readonly scheduler: Scheduler;
  readonly timeoutMs: number;
}

export class DialError extends Error {
  override readonly name = 'DialError';
}

export function dialPeer(url: string, opts: DialOptions): Promise<ClientHttp2Session> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.reject(new DialError(`bad peer URL ${url}`));
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return Promise.reject(new DialError(`peer URL ${url}: scheme must be http or https`));
  }
  const authority = `${parsed.protocol}//${parsed.host}`;
  const tlsOptions =
    parsed.protocol === 'https:' && opts.tls !== undefined ? opts.tls.clientOptions() : {};
  return new Promise((resolve, reject) => {
    const session = connect(authority, {
      ...tlsOptions,
      settings: { initialWindowSize: STREAM_WINDOW_BYTES, enablePush: false },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
    }, (_session, socket) => {
      // No Nagle: a small append or its response must not wait for a delayed ACK.
      socket.setNoDelay(true);
    });
    let settled = false;
    const timer = opts.scheduler.after(opts.timeoutMs, () => {
      if (settled) return;
      settled = true;
      session.destroy();
      reject(new DialError(`dial ${authority}: no connection within ${opts.timeoutMs} ms`));
    });
    session.once('connect', () => {
      if (settled) return;
      settled = true;
      timer.cancel();
      session.setLocalWindowSize(SESSION_WINDOW_BYTES);
      resolve(session);
    });
    session.once('error', (err: Error) => {
      if (settled) return;
      settled = true;
      timer.cancel();
      session.destroy();
      reject(new DialError(`dial ${authority}: ${err.message}`));
    });
    session.once('close', () => {
      if (settled) return;
      settled = true;
      timer.cancel();
      reject(new DialError(`dial ${authority}: connection closed`));
    });
  });
}

/** Ping the session periodically; call onDead once if a ping goes unanswered too long. */
export function keepalive(
  session: Http2Session,
  scheduler: Scheduler,
  intervalMs: number,
  timeoutMs: number,
  onDead: (why: string) => void,
  onRoundTripMs?: (ms: number) => void,
): Cancelable {
  const ticksAllowed = Math.max(1, Math.ceil(timeoutMs / intervalMs));
  let outstandingTicks = -1; // -1: no ping in flight
  let dead = false;
  const timer = scheduler.every(intervalMs, () => {
    if (dead || session.destroyed || session.closed) {
      timer.cancel();
      return;
    }
    if (outstandingTicks >= 0) {
      outstandingTicks++;
      if (outstandingTicks >= ticksAllowed) {
        dead = true;
        timer.cancel();
        onDead(`no answer to an HTTP/2 PING within ${timeoutMs} ms`);
      }
      return;
    }
    outstandingTicks = 0;
    try {
      session.ping((err, durationMs) => {
        if (err !== null) return;
        outstandingTicks = -1;
        onRoundTripMs?.(durationMs);
      });
    } catch {
      // The session is closing; its 'close' handler owns the cleanup.
    }
  });
  return timer;
}
