/**
 * Plain HTTP/1.1 requests to a member's client URL (GET /health, /version), with the
 * test client certificate when the member uses TLS. Used as startMember's default
 * readiness probe. Contract: httpGet resolves with status and body, or rejects on a
 * transport error or after PROBE_TIMEOUT_MS; it never reuses connections.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Member } from './processes.js';

const PROBE_TIMEOUT_MS = 2_000;

/** GET /health on the first client URL (with the client certificate under TLS) == 200. */
export function httpHealthReady(member: Member): Promise<boolean> {
  return httpGet(member, '/health').then((r) => r.status === 200);
}

/** A small HTTP/1.1 GET against a member's client URL, with the test client cert under TLS. */
export function httpGet(
  member: Member,
  path: string,
  url = member.clientUrl,
): Promise<{ status: number; body: string }> {
  const pki = member.spec.pki;
  return new Promise((resolve, reject) => {
    const options = { timeout: PROBE_TIMEOUT_MS, agent: false as const };
    const onResponse = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    };
    const req =
      pki === undefined || url.startsWith('http:')
        ? http.get(`${url}${path}`, options, onResponse)
        : https.get(
            `${url}${path}`,
            {
              ...options,
              ca: readFileSync(pki.caCert),
              cert: readFileSync(pki.cert),
              key: readFileSync(pki.key),
            },
            onResponse,
          );
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}
