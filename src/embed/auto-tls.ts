/**
 * --auto-tls / --peer-auto-tls: a self-signed certificate made in-process, with no
 * external tool or download (etcd client/pkg/transport/listener.go SelfCert).
 *
 * Like etcd: an ECDSA P-256 key, organization "etcd", validity
 * self-signed-cert-validity years, key usage digitalSignature + keyEncipherment,
 * extended key usage serverAuth (and clientAuth for peers), SANs from the listen URLs'
 * hosts (IPs as IP SANs, names as DNS SANs). Files are cert.pem / key.pem in the given
 * directory and are reused when they already exist.
 *
 * Node's crypto signs but cannot build an X.509 certificate, so this file holds a
 * minimal DER encoder for exactly the structures a certificate needs (RFC 5280).
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface SelfCertOptions {
  readonly dir: string;
  readonly hosts: readonly string[];
  readonly validityYears: number;
  readonly clientAuth: boolean;
  readonly nowMs: number;
}

export interface SelfCert {
  readonly certFile: string;
  readonly keyFile: string;
}

export function ensureSelfCert(opts: SelfCertOptions): SelfCert {
  const certFile = join(opts.dir, 'cert.pem');
  const keyFile = join(opts.dir, 'key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    createPrivateKey(readFileSync(keyFile)); // refuse a damaged key early
    return { certFile, keyFile };
  }
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const { cert, key } = makeSelfSignedCert(opts);
  writeFileSync(keyFile, key, { mode: 0o600 });
  writeFileSync(certFile, cert, { mode: 0o644 });
  return { certFile, keyFile };
}

export function makeSelfSignedCert(opts: Omit<SelfCertOptions, 'dir'>): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // a positive INTEGER
  const name = seq(set(seq(oid('2.5.4.10'), utf8('etcd'))));
  const notBefore = new Date(opts.nowMs);
  const notAfter = new Date(opts.nowMs);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + Math.max(1, opts.validityYears));
  const usages = [oid('1.3.6.1.5.5.7.3.1')];
  if (opts.clientAuth) usages.push(oid('1.3.6.1.5.5.7.3.2'));
  const sans = opts.hosts.map((h) =>
    isIP(h) !== 0 ? tlv(0x87, ipBytes(h)) : tlv(0x82, Buffer.from(h, 'ascii')),
  );
  const extensions = [
    // keyUsage (critical): digitalSignature (bit 0) + keyEncipherment (bit 2) = 0b101 << 5
    seq(oid('2.5.29.15'), bool(true), octets(tlv(0x03, Buffer.from([0x05, 0xa0])))),
    seq(oid('2.5.29.37'), octets(seq(...usages))),
    seq(oid('2.5.29.19'), bool(true), octets(seq())),
  ];
  if (sans.length > 0) extensions.push(seq(oid('2.5.29.17'), octets(seq(...sans))));
  const sigAlg = seq(oid('1.2.840.10045.4.3.2'));
  const tbs = seq(
    tlv(0xa0, int(Buffer.from([2]))),
    int(serial),
    sigAlg,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    Buffer.from(spki),
    tlv(0xa3, seq(...extensions)),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = seq(tbs, sigAlg, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const cert = pem('CERTIFICATE', der);
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { cert, key };
}

function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

function tlv(tag: number, body: Buffer): Buffer {
  const len = body.length;
  let head: Buffer;
  if (len < 0x80) head = Buffer.from([tag, len]);
  else {
    const bytes: number[] = [];
    for (let n = len; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
    head = Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([head, body]);
}

const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0]));

function int(magnitude: Buffer): Buffer {
  let b = magnitude;
  while (b.length > 1 && b[0] === 0 && ((b[1] ?? 0) & 0x80) === 0) b = b.subarray(1);
  if (((b[0] ?? 0) & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const rest = `${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}${p2(
    d.getUTCSeconds(),
  )}Z`;
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  return y < 2050 ? tlv(0x17, Buffer.from(`${p2(y % 100)}${rest}`)) : tlv(0x18, Buffer.from(`${y}${rest}`));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  const [head = '', tail = ''] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}
