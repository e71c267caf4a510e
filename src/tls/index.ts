/**
 * TLS from certificate files, re-read when they change, so certificates rotate without
 * a restart (etcd re-reads them per handshake). One source for the client listeners
 * (src/embed) and the peer transport (src/cluster/transport/tls.ts).
 *
 * Contract:
 *  - ReloadingFiles reads a set of files together and re-reads them when any one's
 *    stat (mtime, size, inode) changes, at most once per RELOAD_CHECK_INTERVAL_MS. A
 *    half-written rotation (a file missing or unreadable) keeps the old contents and is
 *    retried at the next check; `generation` changes exactly when new contents load.
 *  - Client certificates follow etcd's rule (client/pkg/transport/listener.go
 *    ServerConfig): a listener requires and verifies one whenever a trusted CA file is
 *    set OR client-cert-auth is true. So the seed's `client-cert-auth: false` with a
 *    trusted-ca-file still refuses clients without a certificate signed by that CA.
 *  - A client listener offers ALPN h2 and http/1.1: grpc-go >= 1.67 refuses servers
 *    without h2, curl and Prometheus may speak HTTP/1.1.
 */
import { readFileSync, statSync } from 'node:fs';
import type { SecureContextOptions, TlsOptions } from 'node:tls';

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly trustedCaFile?: string;
  readonly clientCertAuth: boolean;
  readonly crlFile?: string;
  /** OpenSSL cipher list (already mapped from Go names by config). */
  readonly ciphers?: string;
  readonly minVersion?: TlsVersion;
  readonly maxVersion?: TlsVersion;
}

/**
 * How often at most the files are stat()ed to notice a rotation; just under the client
 * listener's 1 s poll, so a poll that fires a little early still looks.
 */
const RELOAD_CHECK_INTERVAL_MS = 900;

export class ReloadingFiles {
  private readonly paths: readonly string[];
  private lastCheckMs = Number.NEGATIVE_INFINITY;
  private stamp: string;
  private contents: ReadonlyMap<string, Buffer>;
  private reloads = 0;

  constructor(paths: readonly (string | undefined)[]) {
    this.paths = [...new Set(paths.filter((p): p is string => p !== undefined))];
    this.stamp = this.fileStamp();
    this.contents = this.readAll();
  }

  /** Changes at every reload: a user compares it to know its context is stale. */
  get generation(): number {
    return this.reloads;
  }

  /** The current contents of one of the files. */
  read(path: string): Buffer {
    const b = this.contents.get(path);
    if (b === undefined) throw new Error(`tls: ${path} is not one of the watched files`);
    return b;
  }

  /** Re-read the files if they changed (throttled by nowMs); true when new contents loaded. */
  reloadIfChanged(nowMs: number): boolean {
    if (nowMs - this.lastCheckMs < RELOAD_CHECK_INTERVAL_MS) return false;
    this.lastCheckMs = nowMs;
    try {
      const stamp = this.fileStamp();
      if (stamp === this.stamp) return false;
      this.contents = this.readAll();
      this.stamp = stamp;
      this.reloads++;
      return true;
    } catch {
      return false;
    }
  }

  private fileStamp(): string {
    return this.paths
      .map((p) => {
        const st = statSync(p);
        return `${st.mtimeMs}:${st.size}:${st.ino}`;
      })
      .join('|');
  }

  private readAll(): ReadonlyMap<string, Buffer> {
    return new Map(this.paths.map((p) => [p, readFileSync(p)]));
  }
}

/** etcd's rule: a trusted CA OR client-cert-auth makes the listener require a client certificate. */
export function requiresClientCert(files: TlsFiles): boolean {
  return files.trustedCaFile !== undefined || files.clientCertAuth;
}

/** Protocol versions and ciphers, for servers and clients alike. */
export function protocolOptions(files: TlsFiles): { minVersion: TlsVersion; maxVersion?: TlsVersion; ciphers?: string } {
  return {
    minVersion: files.minVersion ?? 'TLSv1.2',
    ...(files.maxVersion !== undefined ? { maxVersion: files.maxVersion } : {}),
    ...(files.ciphers !== undefined ? { ciphers: files.ciphers } : {}),
  };
}

/** A client (or metrics) listener's TLS: server certificate, CA and CRL, reloaded on change. */
export class TlsContextSource {
  private readonly reloading: ReloadingFiles;

  constructor(private readonly files: TlsFiles) {
    this.reloading = new ReloadingFiles([files.certFile, files.keyFile, files.trustedCaFile, files.crlFile]);
  }

  /** Whether clients must present a certificate signed by the trusted CA. */
  get requireClientCert(): boolean {
    return requiresClientCert(this.files);
  }

  serverOptions(): TlsOptions {
    const verify = this.requireClientCert;
    return {
      ...this.context(),
      ...protocolOptions(this.files),
      requestCert: verify,
      rejectUnauthorized: verify,
      ALPNProtocols: ['h2', 'http/1.1'],
    };
  }

  /**
   * Re-read the files if they changed since the last look (throttled). Returns the new
   * context options, or undefined when nothing changed.
   */
  reloadIfChanged(nowMs: number): SecureContextOptions | undefined {
    return this.reloading.reloadIfChanged(nowMs) ? this.context() : undefined;
  }

  private context(): SecureContextOptions {
    const f = this.files;
    const ctx: SecureContextOptions = { cert: this.reloading.read(f.certFile), key: this.reloading.read(f.keyFile) };
    if (f.trustedCaFile !== undefined) ctx.ca = this.reloading.read(f.trustedCaFile);
    if (f.crlFile !== undefined) ctx.crl = this.reloading.read(f.crlFile);
    return ctx;
  }
}
