import { execFileSync } from 'node:child_process';
import { createSecureContext, getCiphers } from 'node:tls';
import { describe, expect, it } from 'vitest';
import {
  GO_TLS12_CIPHER_SUITES,
  TLS13_CIPHER_SUITES,
  goToOpensslCipher,
  loadConfig,
  lookupGoCipherSuite,
} from '../../src/config/index.js';
import { requireTools } from '../helpers/require-tool.js';

const MIN_COMPARED = 17;

/** `openssl ciphers -stdname`: RFC name -> OpenSSL name. Throws if openssl fails. */
function opensslStdNames(): Map<string, string> {
  const out = execFileSync('openssl', ['ciphers', '-stdname', 'ALL:COMPLEMENTOFALL:@SECLEVEL=0'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  const map = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [std, , ossl] = line.trim().split(/\s+/);
    if (std !== undefined && ossl !== undefined) map.set(std, ossl);
  }
  return map;
}

describe('Go cipher suite names -> OpenSSL names', () => {
  it('covers every TLS 1.2 suite Go implements, each once', () => {
    expect(GO_TLS12_CIPHER_SUITES).toHaveLength(22);
    expect(new Set(GO_TLS12_CIPHER_SUITES.map((s) => s.goName)).size).toBe(22);
    expect(new Set(GO_TLS12_CIPHER_SUITES.map((s) => s.opensslName)).size).toBe(22);
  });

  it('maps names as OpenSSL itself does (openssl ciphers -stdname)', (ctx) => {
    requireTools(ctx, 'openssl');
    const std = opensslStdNames();
    let compared = 0;
    for (const s of GO_TLS12_CIPHER_SUITES) {
      const fromOpenssl = std.get(s.goName);
      // RC4 and 3DES are compiled out of OpenSSL 3's default build.
      if (fromOpenssl === undefined) continue;
      expect(fromOpenssl).toBe(s.opensslName);
      compared++;
    }
    // Debian's OpenSSL 3.0 names 17 of Go's 22 (measured; the rest are RC4 and 3DES
    // suites it leaves out): fewer means the listing broke, not that the mapping is right.
    expect(compared).toBeGreaterThanOrEqual(MIN_COMPARED);
  });

  it('every suite this Node can negotiate builds a TLS context', () => {
    const available = new Set(getCiphers());
    const usable = GO_TLS12_CIPHER_SUITES.filter((s) => available.has(s.opensslName.toLowerCase()));
    expect(usable.length).toBeGreaterThanOrEqual(16);
    for (const s of usable) {
      expect(() => createSecureContext({ ciphers: s.opensslName })).not.toThrow();
    }
  });

  it('accepts the pre-RFC ChaCha20 names and the TLS 1.3 names, as Go does', () => {
    expect(goToOpensslCipher('TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305')).toBe(
      'ECDHE-RSA-CHACHA20-POLY1305',
    );
    expect(goToOpensslCipher('TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305')).toBe(
      'ECDHE-ECDSA-CHACHA20-POLY1305',
    );
    expect(lookupGoCipherSuite('TLS_AES_128_GCM_SHA256').kind).toBe('tls13');
    expect(lookupGoCipherSuite('tls_ecdhe_rsa_with_aes_128_gcm_sha256').kind).toBe('unknown');
  });

  it('gives Node a ciphers string in the configured order that keeps TLS 1.3 on', () => {
    const { config, notices } = loadConfig(
      [
        '--cipher-suites',
        'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,' +
          'TLS_AES_128_GCM_SHA256,TLS_RSA_WITH_RC4_128_SHA',
      ],
      {},
    );
    expect(config.cipherSuites).toHaveLength(4);
    const tls12 = ['ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES128-GCM-SHA256'];
    const rc4 = getCiphers().includes('rc4-sha') ? ['RC4-SHA'] : [];
    expect(config.opensslCipherSuites).toEqual([...tls12, ...rc4]);
    expect(config.opensslCiphers).toBe([...tls12, ...rc4, ...TLS13_CIPHER_SUITES].join(':'));
    expect(() => createSecureContext({ ciphers: config.opensslCiphers ?? '' })).not.toThrow();
    expect(notices.some((n) => n.includes('TLS_AES_128_GCM_SHA256 is a TLS 1.3 suite'))).toBe(true);
    if (rc4.length === 0)
      expect(notices.some((n) => n.includes('RC4-SHA) is not available'))).toBe(true);
  });
});
