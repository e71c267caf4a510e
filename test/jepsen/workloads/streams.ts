/**
 * The streaming RPCs the workloads need, on the same grpc-js channel as the unary calls:
 * one LeaseKeepAlive round (open the bidi stream, send one request, take the first answer,
 * close) and a Watch stream that logs every response (workloads/watch.ts).
 *
 * Contract: keepAliveOnce resolves (never rejects) like EtcdGrpcClient.unary, with a
 * deadline; no retry.
 */
import * as grpc from '@grpc/grpc-js';
import type { EtcdGrpcClient, Reply } from '../../helpers/grpc-client.js';
import { methodDefinition, toGrpcError, withoutEmptyBytes } from '../../helpers/grpc-client.js';

export function keepAliveOnce(
  client: EtcdGrpcClient,
  id: string,
  deadlineMs: number,
): Promise<Reply<{ ID?: string; TTL?: string }>> {
  const def = methodDefinition('Lease', 'LeaseKeepAlive');
  return new Promise((resolve) => {
    let settled = false;
    const call = client.client.makeBidiStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
    );
    const done = (r: Reply<{ ID?: string; TTL?: string }>): void => {
      if (settled) return;
      settled = true;
      call.cancel();
      resolve(r);
    };
    call.on('data', (v: unknown) => done({ ok: true, value: v as { ID?: string; TTL?: string } }));
    call.on('error', (err: unknown) => done({ ok: false, error: toGrpcError(err) }));
    call.on('end', () =>
      done({
        ok: false,
        error: {
          code: grpc.status.UNAVAILABLE,
          codeName: 'UNAVAILABLE',
          details: 'stream ended without an answer',
        },
      }),
    );
    call.write(withoutEmptyBytes({ ID: id }));
  });
}

export interface WatchStream {
  /** Writes one WatchRequest (create, cancel or progress). */
  send(req: object): void;
  close(): void;
}

export function openWatch(
  client: EtcdGrpcClient,
  onResponse: (res: unknown) => void,
  onEnd: (why: string) => void,
): WatchStream {
  const def = methodDefinition('Watch', 'Watch');
  const call = client.client.makeBidiStreamRequest(
    def.path,
    def.requestSerialize,
    def.responseDeserialize,
    new grpc.Metadata(),
    {},
  );
  let ended = false;
  const end = (why: string): void => {
    if (ended) return;
    ended = true;
    onEnd(why);
  };
  call.on('data', (v: unknown) => onResponse(v));
  call.on('error', (err: unknown) => {
    const e = toGrpcError(err);
    end(`${e.codeName}: ${e.details}`);
  });
  call.on('end', () => end('stream ended'));
  return {
    send: (req) => call.write(withoutEmptyBytes(req)),
    close: () => {
      end('closed');
      call.cancel();
    },
  };
}
