/**
 * Certificate checks before anything is served or created (a first start must fail
 * before it makes a data dir; `tsetcd config check` reports the same problems).
 *
 * Contract: pure reads of the named files, no network. `checkKeyPair` and `checkCaFile`
 * return problems that make TLS impossible (a file that does not parse, a key that is not
 * the certificate's); `certificateNotes` returns what makes TLS fail for some peers (an
 * expired or not-yet-valid certificate, an advertised IP or host missing from its SAN).
 * Every problem is one line naming the file.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

/** One PEM-encoded certificate per block; a CA file may hold several. */
function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

function readText(file: string): string | { problem: string } {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    return { problem: `${file}: cannot read: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function firstLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0] ?? m;
}

/** The certificate in `file`, or the line saying why there is none. */
export function loadCertificate(file: string): X509Certificate | { problem: string } {
  const text = readText(file);
  if (typeof text !== 'string') return text;
  const block = pemBlocks(text)[0];
  if (block === undefined) return { problem: `${file}: no PEM certificate in the file` };
  try {
    return new X509Certificate(block);
  } catch (err) {
    return { problem: `${file}: the certificate does not parse: ${firstLine(err)}` };
  }
}

function loadKey(file: string): KeyObject | { problem: string } {
  const text = readText(file);
  if (typeof text !== 'string') return text;
  try {
    return createPrivateKey(text);
  } catch (err) {
    return { problem: `${file}: the private key does not parse: ${firstLine(err)}` };
  }
}

/** A certificate and its key: both parse and the key is the certificate's. */
export function checkKeyPair(certFile: string, keyFile: string): string[] {
  const cert = loadCertificate(certFile);
  const key = loadKey(keyFile);
  const problems: string[] = [];
  if ('problem' in cert) problems.push(cert.problem);
  if ('problem' in key) problems.push(key.problem);
  if (problems.length > 0 || 'problem' in cert || 'problem' in key) return problems;
  if (!cert.checkPrivateKey(key)) {
    return [`${keyFile}: the private key does not match the certificate ${certFile} (tls: private key does not match public key)`];
  }
  return [];
}

/** A trusted CA file: at least one certificate, every one of them parses. */
export function checkCaFile(file: string): string[] {
  const text = readText(file);
  if (typeof text !== 'string') return [text.problem];
  const blocks = pemBlocks(text);
  if (blocks.length === 0) return [`${file}: no PEM certificate in the CA file`];
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (err) {
      return [`${file}: CA certificate ${i + 1} does not parse: ${firstLine(err)}`];
    }
  }
  return [];
}

/**
 * What a parsed certificate will fail at: its validity window at `nowMs`, and every
 * advertised host (an IP or a DNS name) that its SAN does not cover.
 */
export function certificateNotes(file: string, cert: X509Certificate, hosts: readonly string[], nowMs: number): string[] {
  const notes: string[] = [];
  if (Date.parse(cert.validTo) <= nowMs) notes.push(`${file}: the certificate expired on ${cert.validTo}`);
  if (Date.parse(cert.validFrom) > nowMs) notes.push(`${file}: the certificate is not valid before ${cert.validFrom}`);
  for (const host of new Set(hosts)) {
    const bare = host.replace(/^\[|\]$/g, '');
    const covered = isIP(bare) !== 0 ? cert.checkIP(bare) !== undefined : cert.checkHost(bare) !== undefined;
    if (!covered) notes.push(`${file}: the certificate's SAN does not cover the advertised ${isIP(bare) !== 0 ? 'IP' : 'host'} ${bare}`);
  }
  return notes;
}
