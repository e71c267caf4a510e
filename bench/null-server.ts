/**
 * A gRPC "server" that does nothing: every unary call is answered at once with an
 * empty message and status OK (an empty message decodes as any etcd response with
 * default fields). The comparison runs the generator against it to show the
 * generator's own ceiling on this machine: if the generator drives far more ops/s
 * against this than against etcd or tsetcd, the servers, not the generator, set the
 * pace. The null server itself costs CPU (one HTTP/2 stream per call in node), so the
 * ceiling it shows is a lower bound.
 *
 * Usage: node dist/bench/null-server.js <port> [<cert.pem> <key.pem>]; prints
 * "listening <port>" when ready; exits on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';

const EMPTY_FRAME = Buffer.from([0, 0, 0, 0, 0]);

const port = Number(process.argv[2] ?? '0');
const certFile = process.argv[3];
const keyFile = process.argv[4];

const server =
  certFile !== undefined && keyFile !== undefined
    ? http2.createSecureServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) })
    : http2.createServer();

server.on('stream', (stream) => {
  stream.on('error', () => undefined);
  stream.on('data', () => undefined);
  stream.on('end', () => {
    if (stream.closed || stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(EMPTY_FRAME);
  });
});

server.listen(port, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr !== null ? addr.port : port}\n`);
});

process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
