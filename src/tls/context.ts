/**
 * TLS settings for a listener, read from certificate files and re-read when they
 * change, so certificates rotate without a restart (etcd re-reads them per handshake).
 *
 * Client certificates follow etcd's rule (client/pkg/transport/listener.go
 * ServerConfig): a member requires and verifies a client certificate whenever a
 * trusted CA file is set OR client-cert-auth is true. So the seed's
 * `client-cert-auth: false` with a trusted-ca-file still refuses clients without a
 * certificate signed by that CA.
 *
 * ALPN offers h2 and http/1.1: grpc-go >= 1.67 refuses servers without h2,
 * curl and Prometheus may speak HTTP/1.1.
 */
import { readFileSync, statSync } from 'node:fs';
import type { SecureContextOptions, TlsOptions } from 'node:tls';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly trustedCaFile?: string;
  readonly clientCertAuth: boolean;
  readonly crlFile?: string;
  /** OpenSSL cipher list (already mapped from Go names by config). */
  readonly ciphers?: string;
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion?: 'TLSv1.2' | 'TLSv1.3';
}

/** How often at most the files are stat()ed to notice a rotation. */
const RELOAD_CHECK_INTERVAL_MS = 900;

export class TlsContextSource {
  private lastCheckMs = 0;
  private stamp: string;
  private current: SecureContextOptions;

  constructor(private readonly files: TlsFiles) {
    this.stamp = this.fileStamp();
    this.current = this.readFiles();
  }

  /** Whether clients must present a certificate signed by the trusted CA. */
  get requireClientCert(): boolean {
    return this.files.trustedCaFile !== undefined || this.files.clientCertAuth;
  }

  serverOptions(): TlsOptions {
    const verify = this.requireClientCert;
    const opts: TlsOptions = {
      ...this.current,
      requestCert: verify,
      rejectUnauthorized: verify,
      ALPNProtocols: ['h2', 'http/1.1'],
      minVersion: this.files.minVersion ?? 'TLSv1.2',
    };
    if (this.files.maxVersion !== undefined) opts.maxVersion = this.files.maxVersion;
    if (this.files.ciphers !== undefined) opts.ciphers = this.files.ciphers;
    return opts;
  }

  /**
   * Re-read the files if they changed since the last look (throttled). Returns the new
   * context options, or undefined when nothing changed. A half-written rotation (files
   * that do not parse) keeps the old context and is retried at the next check.
   */
  reloadIfChanged(nowMs: number): SecureContextOptions | undefined {
    if (nowMs - this.lastCheckMs < RELOAD_CHECK_INTERVAL_MS) return undefined;
    this.lastCheckMs = nowMs;
    let stamp: string;
    try {
      stamp = this.fileStamp();
    } catch {
      return undefined;
    }
    if (stamp === this.stamp) return undefined;
    try {
      const next = this.readFiles();
      this.current = next;
      this.stamp = stamp;
      return next;
    } catch {
      return undefined;
    }
  }

  private fileStamp(): string {
    const paths = [this.files.certFile, this.files.keyFile, this.files.trustedCaFile, this.files.crlFile];
    return paths
      .map((p) => {
        if (p === undefined) return '-';
        const st = statSync(p);
        return `${st.mtimeMs}:${st.size}:${st.ino}`;
      })
      .join('|');
  }

  private readFiles(): SecureContextOptions {
    const ctx: SecureContextOptions = {
      cert: readFileSync(this.files.certFile),
      key: readFileSync(this.files.keyFile),
    };
    if (this.files.trustedCaFile !== undefined) ctx.ca = readFileSync(this.files.trustedCaFile);
    if (this.files.crlFile !== undefined) ctx.crl = readFileSync(this.files.crlFile);
    return ctx;
  }
}
