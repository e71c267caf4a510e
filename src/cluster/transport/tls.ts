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
 * Files are re-read when they change (src/tls's ReloadingFiles, the one reload source
 * the client listeners use too), so certificates rotate without a restart, as etcd
 * re-reads them per handshake.
 */
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate, type SecureContextOptions } from 'node:tls';
import type { ConnectionOptions, TlsOptions, TLSSocket } from 'node:tls';
import type { Cancelable, Scheduler } from '../../shared/scheduler.js';
import { ReloadingFiles, protocolOptions, requiresClientCert, type TlsFiles } from '../../tls/index.js';

export interface PeerTlsOptions extends TlsFiles {
  /** The certificate presented when dialing peers (defaults to certFile/keyFile). */
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
  /** --peer-cert-allowed-cn: the client certificate's CN must be one of these. */
  readonly allowedCn?: readonly string[];
  /** --peer-cert-allowed-hostname: or its SANs must name one of these. */
  readonly allowedHostname?: readonly string[];
  readonly skipClientSanVerification?: boolean;
  /** auto-tls: peers present self-signed certificates; do not verify the server. */
  readonly insecureSkipVerify?: boolean;
}

const DNS_CHECK_TIMEOUT_MS = 2000;

/** The peer side's TLS: one file set for the listener and the dialer, reloaded on change. */
export class PeerTlsSource {
  private readonly files: ReloadingFiles;

  constructor(readonly options: PeerTlsOptions) {
    const o = options;
    this.files = new ReloadingFiles([o.certFile, o.keyFile, o.clientCertFile, o.clientKeyFile, o.trustedCaFile, o.crlFile]);
  }

  /** Changes at every reload: a listener compares it to know its context is stale. */
  get generation(): number {
    return this.files.generation;
  }

  /** Whether peers must present a certificate signed by the trusted CA. */
  get requireClientCert(): boolean {
    return requiresClientCert(this.options);
  }

  /** Options for http2.createSecureServer: h2 only, client certificates per the rule. */
  serverOptions(): TlsOptions {
    const verify = this.requireClientCert;
    return { ...this.serverContext(), requestCert: verify, rejectUnauthorized: verify, ALPNProtocols: ['h2'] };
  }

  /** Options for http2.connect to an https peer URL. */
  clientOptions(): ConnectionOptions {
    const o = this.options;
    const client: SecureContextOptions = {
      cert: this.files.read(o.clientCertFile ?? o.certFile),
      key: this.files.read(o.clientKeyFile ?? o.keyFile),
    };
    if (o.trustedCaFile !== undefined) client.ca = this.files.read(o.trustedCaFile);
    return {
      ...client,
      ...protocolOptions(o),
      rejectUnauthorized: o.insecureSkipVerify !== true,
      ALPNProtocols: ['h2'],
    };
  }

  /** Re-read the files if they changed (throttled by nowMs); true when they did. */
  reloadIfChanged(nowMs: number): boolean {
    return this.files.reloadIfChanged(nowMs);
  }

  /** The context options for server.setSecureContext after a reload. */
  serverContext(): SecureContextOptions {
    const o = this.options;
    const server: SecureContextOptions = { cert: this.files.read(o.certFile), key: this.files.read(o.keyFile) };
    if (o.trustedCaFile !== undefined) server.ca = this.files.read(o.trustedCaFile);
    if (o.crlFile !== undefined) server.crl = this.files.read(o.crlFile);
    return { ...server, ...protocolOptions(o) };
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
  const plain = names.filter((n) => !n.startsWith('*.'));
  const wildcards = names.filter((n) => n.startsWith('*.')).map((n) => n.slice(1));
  const byReverse = async (): Promise<boolean> => {
    const reverse = await dns.reverse(host).catch(() => [] as string[]);
    return reverse.some((r) => {
      const name = r.endsWith('.') ? r.slice(0, -1) : r;
      return plain.includes(name) || wildcards.some((w) => name.endsWith(w));
    });
  };
  const byForward = async (n: string): Promise<boolean> =>
    (await dns.lookup(n, { all: true }).catch(() => [])).some((a) => a.address === host);
  // All lookups at once, the first match wins: a slow reverse lookup (seen: 19 s in a
  // container network) must not use up the bounded wait before the forward lookups run.
  const check = (): Promise<boolean> => firstTrue([byReverse(), ...plain.map(byForward)]);
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

/** True as soon as one of the checks is; false once all of them are false. */
function firstTrue(checks: readonly Promise<boolean>[]): Promise<boolean> {
  return new Promise((resolve) => {
    let pending = checks.length;
    if (pending === 0) resolve(false);
    for (const c of checks) {
      void c.then((ok) => {
        pending--;
        if (ok) resolve(true);
        else if (pending === 0) resolve(false);
      });
    }
  });
}
