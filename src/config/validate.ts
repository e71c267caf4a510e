/**
 * Cross-setting checks on a built Config, from embed.Config.Validate,
 * embed.configure{Client,Peer}Listeners and etcdserver.ServerConfig.VerifyBootstrap.
 * Nothing here binds, dials or resolves a name: `tsetcd config check` must be safe to
 * run anywhere.
 *
 * Rules:
 * - listen URLs name an IP address or localhost; advertised URLs have a host;
 * - an https/unixs listen URL needs cert-file and key-file, or auto-tls; the cert and
 *   key come as a pair; every TLS file named on a side that uses TLS must exist;
 * - initial-cluster has no duplicate URL and contains this member's name; for a new
 *   cluster the member's entry must equal initial-advertise-peer-urls (checked when
 *   every host is an IP literal; names would need DNS, so a mismatch there is a notice).
 * The data-dir question (is this member already initialised?) belongs to the server.
 */
import { tlsKeys } from './build-tls.js';
import type { Side } from './build-tls.js';
import type { ConfigIo } from './source.js';
import type { Config, ConfigUrl, TransportSecurity } from './types.js';
import {
  findDuplicateClusterUrl,
  findHostlessUrl,
  findNonBindableUrl,
  formatUrls,
  isTlsScheme,
  urlHostPort,
} from './urls.js';
import type { Values } from './values.js';
import { isIP } from 'node:net';

export function validateConfig(config: Config, v: Values, io: ConfigIo, notices: string[]): void {
  const bindChecks: readonly [string, readonly ConfigUrl[]][] = [
    ['listen-peer-urls', config.listenPeerUrls],
    ['listen-client-urls', config.listenClientUrls],
    ['listen-client-http-urls', config.listenClientHttpUrls],
    ['listen-metrics-urls', config.listenMetricsUrls],
  ];
  for (const [key, urls] of bindChecks) {
    const bad = findNonBindableUrl(urls);
    if (bad !== undefined) v.fail(key, `expected IP in URL for binding (${bad})`);
  }
  for (const key of ['initial-advertise-peer-urls', 'advertise-client-urls'] as const) {
    const urls =
      key === 'advertise-client-urls'
        ? config.advertiseClientUrls
        : config.initialAdvertisePeerUrls;
    const bad = findHostlessUrl(urls);
    if (bad !== undefined) v.fail(key, `${bad} must be in the form "host:port"`);
  }

  const clientListeners = [
    ...config.listenClientUrls,
    ...config.listenClientHttpUrls,
    ...config.listenMetricsUrls,
  ];
  checkSide(
    v,
    io,
    notices,
    'client',
    config.clientTls,
    clientListeners,
    clientListeners.some(isTlsScheme),
  );
  const peerDialsTls = config.initialCluster.some((m) => m.peerUrls.some(isTlsScheme));
  checkSide(
    v,
    io,
    notices,
    'peer',
    config.peerTls,
    config.listenPeerUrls,
    config.listenPeerUrls.some(isTlsScheme) || peerDialsTls,
  );
  checkJwtKeys(config, v, io);
  checkInitialCluster(config, v, notices);
}

function checkSide(
  v: Values,
  io: ConfigIo,
  notices: string[],
  side: Side,
  tls: TransportSecurity,
  listeners: readonly ConfigUrl[],
  usesTls: boolean,
): void {
  const k = tlsKeys(side);
  const hasFiles = tls.certFile !== undefined || tls.keyFile !== undefined;
  if (tls.certFile !== undefined && tls.keyFile === undefined)
    v.fail(k.keyFile, `required with ${v.label(k.certFile)}`);
  if (tls.keyFile !== undefined && tls.certFile === undefined)
    v.fail(k.certFile, `required with ${v.label(k.keyFile)}`);
  for (const url of listeners) {
    if (isTlsScheme(url) && !hasFiles && !tls.autoTls) {
      v.fail(
        k.certFile,
        `TLS key/cert (${v.label(k.certFile)}, ${v.label(k.keyFile)}) must be provided for ` +
          `${side} url ${formatUrls([url])} with HTTPS scheme (or enable ${v.label(k.autoTls)})`,
      );
    }
  }
  if (tls.autoTls && hasFiles) notices.push(`ignoring ${side} auto TLS since certs given`);
  if (!usesTls) {
    if (hasFiles || tls.trustedCaFile !== undefined) {
      notices.push(
        `${side} scheme is HTTP while key and cert files are present; ignoring key and cert files`,
      );
    }
    if (tls.clientCertAuth) {
      notices.push(
        `${side} scheme is HTTP while ${v.label(k.clientCertAuth)} is enabled; ` +
          'ignoring client cert auth',
      );
    }
    return;
  }
  const files: readonly [string, string | undefined][] = [
    [k.certFile, tls.certFile],
    [k.keyFile, tls.keyFile],
    [k.clientCertFile, tls.clientCertFile],
    [k.clientKeyFile, tls.clientKeyFile],
    [k.trustedCaFile, tls.trustedCaFile],
    [k.crlFile, tls.crlFile],
  ];
  for (const [key, path] of files) {
    if (path !== undefined && !io.fileExists(path)) v.fail(key, `file ${path} does not exist`);
  }
}

function checkJwtKeys(config: Config, v: Values, io: ConfigIo): void {
  if (config.authTokenType !== 'jwt') return;
  for (const option of ['pub-key', 'priv-key']) {
    const path = config.authTokenOptions[option];
    if (path !== undefined && !io.fileExists(path))
      v.fail('auth-token', `${option} file ${path} does not exist`);
  }
}

function checkInitialCluster(config: Config, v: Values, notices: string[]): void {
  if (config.initialCluster.length === 0) v.fail('initial-cluster', 'initial cluster unset');
  const duplicate = findDuplicateClusterUrl(config.initialCluster);
  if (duplicate !== undefined)
    v.fail('initial-cluster', `initial cluster has duplicate url ${duplicate}`);
  const self = config.initialCluster.find((m) => m.name === config.name);
  if (self === undefined) {
    v.fail(
      'name',
      `couldn't find local name ${JSON.stringify(config.name)} in the initial cluster ` +
        `configuration (${v.label('initial-cluster')})`,
    );
  }
  if (config.initialClusterState !== 'new') return;
  const listed = formatUrls(self.peerUrls);
  const advertised = formatUrls(config.initialAdvertisePeerUrls);
  if (listed === advertised) return;
  const problem =
    `initial-cluster has ${config.name}=${listed} but missing from ` +
    `initial-advertise-peer-urls=${advertised}`;
  const allLiteral = [...self.peerUrls, ...config.initialAdvertisePeerUrls].every(
    (u) => isIP(urlHostPort(u).host) !== 0,
  );
  if (allLiteral) v.fail('initial-advertise-peer-urls', problem);
  notices.push(`${problem} (host names are compared only after DNS resolution, at bootstrap)`);
}
