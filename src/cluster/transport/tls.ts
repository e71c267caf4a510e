/**
 * peer-transport-security for the peer listener and the peer client.
 *
 * The rule is etcd's (client/pkg/transport TLSInfo.ServerConfig): a trusted CA file OR
 * client-cert-auth makes the listener require a client certificate that the CA signed,
 * so the seed's `client-cert-auth: false` + `trusted-ca-file` still refuses peers from
 * another CA. As the peer client, a member presents client-cert-file/client-key-file
 * (or cert-file/key-file) and verifies the server against the trusted CA (the system
 * roots without one; no verification at all only for auto-tls self-signed certs, as
 * etcd's ClientConfig does for selfCert).
 *
 * After the handshake the listener applies etcd's extra peer checks (verifyPeer):
 * allowed-cn / allowed-hostname, and, unless skip-client-san-verification, that the
 * client certificate's SANs name the address the connection comes from (etcd
 * listener_tls.go checkCertSAN: IP SANs directly, DNS SANs by lookup).
 *
 * Files are re-read when they change (at most once per RELOAD_CHECK_INTERVAL_MS), so
 * certificates rotate without a restart, as etcd re-reads them per handshake. This
 * copies the idea of server/tls-context.ts (cluster/transport may not import server).
 */
import { readFileSync, statSync } from 'node:fs';
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate, type SecureContextOptions } from 'node:tls';
import type { ConnectionOptions, TlsOptions, TLSSocket } from 'node:tls';
import type { Cancelable, Scheduler } from '../../shared/scheduler.js';

export interface PeerTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  /** The certificate presented when dialing peers (defaults to certFile/keyFile). */
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
  readonly trustedCaFile?: string;
  readonly clientCertAuth: boolean;
  readonly crlFile?: string;
  /** OpenSSL cipher list (mapped from Go names by config). */
  readonly ciphers?: string;
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** --peer-cert-allowed-cn: the client certificate's CN must be one of these. */
  readonly allowedCn?: readonly string[];
  /** --peer-cert-allowed-hostname: or its SANs must name one of these. */
  readonly allowedHostname?: readonly string[];
  readonly skipClientSanVerification?: boolean;
  /** auto-tls: peers present self-signed certificates; do not verify the server. */
  readonly insecureSkipVerify?: boolean;
}

const RELOAD_CHECK_INTERVAL_MS = 1000;
const DNS_CHECK_TIMEOUT_MS = 2000;

interface Material {
  readonly server: SecureContextOptions;
  readonly client: SecureContextOptions;
}

export class PeerTlsSource {
  private lastCheckMs = Number.NEGATIVE_INFINITY;
  private stamp: string;
  private material: Material;
  private reloads = 0;

  constructor(readonly options: PeerTlsOptions) {
    this.stamp = this.fileStamp();
    this.material = this.readFiles();
  }

  /** Changes at every reload: a listener compares it to know its context is stale. */
  get generation(): number {
    return this.reloads;
  }

  /** Whether peers must present a certificate signed by the trusted CA. */
  get requireClientCert(): boolean {
    return this.options.trustedCaFile !== undefined || this.options.clientCertAuth;
  }

  /** Options for http2.createSecureServer: h2 only, client certificates per the rule. */
  serverOptions(): TlsOptions {
    const verify = this.requireClientCert;
    return {
      ...this.material.server,
      ...this.versions(),
      requestCert: verify,
      rejectUnauthorized: verify,
      ALPNProtocols: ['h2'],
    };
  }

  /** Options for http2.connect to an https peer URL. */
  clientOptions(): ConnectionOptions {
    return {
      ...this.material.client,
      ...this.versions(),
      rejectUnauthorized: this.options.insecureSkipVerify !== true,
      ALPNProtocols: ['h2'],
    };
  }

  /**
   * Re-read the files if they changed (throttled by nowMs). Returns true when the
   * material changed; a half-written rotation keeps the old material and is retried.
   */
  reloadIfChanged(nowMs: number): boolean {
    if (nowMs - this.lastCheckMs < RELOAD_CHECK_INTERVAL_MS) return false;
    this.lastCheckMs = nowMs;
    try {
      const stamp = this.fileStamp();
      if (stamp === this.stamp) return false;
      this.material = this.readFiles();
      this.stamp = stamp;
      this.reloads++;
      return true;
    } catch {
      return false;
    }
  }

  /** The context options for server.setSecureContext after a reload. */
  serverContext(): SecureContextOptions {
    return { ...this.material.server, ...this.versions() };
  }

  private versions(): {
    minVersion: 'TLSv1.2' | 'TLSv1.3';
    maxVersion?: 'TLSv1.2' | 'TLSv1.3';
    ciphers?: string;
  } {
    const v: {
      minVersion: 'TLSv1.2' | 'TLSv1.3';
      maxVersion?: 'TLSv1.2' | 'TLSv1.3';
      ciphers?: string;
    } = {
      minVersion: this.options.minVersion ?? 'TLSv1.2',
    };
    if (this.options.maxVersion !== undefined) v.maxVersion = this.options.maxVersion;
    if (this.options.ciphers !== undefined) v.ciphers = this.options.ciphers;
    return v;
  }

  private files(): (string | undefined)[] {
    const o = this.options;
    return [o.certFile, o.keyFile, o.clientCertFile, o.clientKeyFile, o.trustedCaFile, o.crlFile];
  }

  private fileStamp(): string {
    return this.files()
      .map((p) => {
        if (p === undefined) return '-';
        const st = statSync(p);
        return `${st.mtimeMs}:${st.size}:${st.ino}`;
      })
      .join('|');
  }

  private readFiles(): Material {
    const o = this.options;
    const ca = o.trustedCaFile === undefined ? undefined : readFileSync(o.trustedCaFile);
    const server: SecureContextOptions = {
      cert: readFileSync(o.certFile),
      key: readFileSync(o.keyFile),
    };
    const client: SecureContextOptions = {
      cert: readFileSync(o.clientCertFile ?? o.certFile),
      key: readFileSync(o.clientKeyFile ?? o.keyFile),
    };
    if (ca !== undefined) {
      server.ca = ca;
      client.ca = ca;
    }
    if (o.crlFile !== undefined) server.crl = readFileSync(o.crlFile);
    return { server, client };
  }
}

/** The address a connection comes from, with IPv4-mapped IPv6 unwrapped. */
export function remoteHost(addr: string | undefined): string {
  if (addr === undefined) return '';
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr;
}

/**
 * etcd's post-handshake checks of a peer's client certificate. Resolves to undefined
 * when the peer is accepted, or to the reason it is refused.
 */
export async function verifyPeer(
  socket: TLSSocket,
  opts: PeerTlsOptions,
  scheduler: Scheduler,
): Promise<string | undefined> {
  const cert = socket.getPeerCertificate();
  if (cert === null || Object.keys(cert).length === 0) return undefined; // none was requested
  const allowedCn = opts.allowedCn ?? [];
  const allowedHost = opts.allowedHostname ?? [];
  if (allowedCn.length > 0 || allowedHost.length > 0) {
    const cn = cert.subject?.CN;
    const cnOk = typeof cn === 'string' && allowedCn.includes(cn);
    const hostOk = allowedHost.some((h) => checkServerIdentity(h, cert) === undefined);
    if (!cnOk && !hostOk) return `client certificate CN ${String(cn)} / SANs not allowed`;
  }
  if (opts.skipClientSanVerification === true) return undefined;
  return checkCertSan(cert, remoteHost(socket.remoteAddress), scheduler);
}

function parseSans(cert: PeerCertificate): { ips: string[]; dnsNames: string[] } {
  const ips: string[] = [];
  const dnsNames: string[] = [];
  for (const part of (cert.subjectaltname ?? '').split(',')) {
    const p = part.trim();
    if (p.startsWith('IP Address:')) ips.push(p.slice('IP Address:'.length));
    else if (p.startsWith('DNS:')) dnsNames.push(p.slice('DNS:'.length));
  }
  return { ips, dnsNames };
}

async function checkCertSan(
  cert: PeerCertificate,
  host: string,
  scheduler: Scheduler,
): Promise<string | undefined> {
  const { ips, dnsNames } = parseSans(cert);
  if (ips.length === 0 && dnsNames.length === 0) return undefined;
  if (ips.length > 0 && checkServerIdentity(host, cert) === undefined) return undefined;
  if (dnsNames.length > 0 && (await hostInDns(host, dnsNames, scheduler))) return undefined;
  const sans = `IP ${ips.join(' ')}; DNS ${dnsNames.join(' ')}`;
  return `client certificate SANs (${sans}) do not match ${host}`;
}

/** Whether host is one of the names (reverse lookup) or an address they resolve to. */
async function hostInDns(
  host: string,
  names: readonly string[],
  scheduler: Scheduler,
): Promise<boolean> {
  const check = async (): Promise<boolean> => {
    const plain = names.filter((n) => !n.startsWith('*.'));
    const wildcards = names.filter((n) => n.startsWith('*.')).map((n) => n.slice(1));
    const reverse = await dns.reverse(host).catch(() => [] as string[]);
    for (const r of reverse) {
      const name = r.endsWith('.') ? r.slice(0, -1) : r;
      if (plain.includes(name) || wildcards.some((w) => name.endsWith(w))) return true;
    }
    for (const n of plain) {
      const addrs = await dns.lookup(n, { all: true }).catch(() => []);
      if (addrs.some((a) => a.address === host)) return true;
    }
    return false;
  };
  let timer: Cancelable | undefined;
  // A bounded wait: a resolver that hangs must not hold a handshake forever.
  const timeout = new Promise<boolean>((resolve) => {
    timer = scheduler.after(DNS_CHECK_TIMEOUT_MS, () => resolve(false));
  });
  try {
    return await Promise.race([check(), timeout]);
  } finally {
    timer?.cancel();
  }
}
