/**
 * URL settings with etcd's rules (client/pkg/types.NewURLs, pkg/flags.UniqueURLs,
 * types.NewURLsMap, embed.checkBindURLs / checkHostURLs).
 *
 * Contract:
 * - A URL is `scheme://host:port` with scheme http, https, unix or unixs, an explicit
 *   numeric port and nothing after the authority (etcd: "URL must not contain a path").
 * - Lists are comma-separated; the result is de-duplicated and sorted by text, as
 *   etcd's UniqueURLs does, so MemberList shows the same order etcd would.
 * - URL objects drop a scheme's default port (http://h:80 has port ""): use
 *   urlHostPort / formatUrl, which put it back, rather than reading `.port` directly.
 */
import { isIP } from 'node:net';
import type { ConfigUrl, InitialClusterMember } from './types.js';

export class UrlSyntaxError extends Error {
  override readonly name = 'UrlSyntaxError';
}

const SCHEMES = new Set(['http', 'https', 'unix', 'unixs']);
const DEFAULT_PORTS: Readonly<Record<string, number>> = { 'http:': 80, 'https:': 443 };

interface RawUrl {
  readonly scheme: string;
  /** host without brackets ('' when the URL had none, e.g. http://:2379) */
  readonly host: string;
  readonly port: number;
}

function splitRawUrl(text: string): RawUrl {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(text);
  if (m === null)
    throw new UrlSyntaxError(`URL scheme must be http, https, unix, or unixs: ${text}`);
  const scheme = (m[1] ?? '').toLowerCase();
  const authority = m[2] ?? '';
  const rest = m[3] ?? '';
  if (!SCHEMES.has(scheme)) {
    throw new UrlSyntaxError(`URL scheme must be http, https, unix, or unixs: ${text}`);
  }
  if (authority.includes('@')) throw new UrlSyntaxError(`URL must not contain user info: ${text}`);
  const hp = /^(?:\[([^\]]*)\]|([^:[\]]*)):([0-9]+)$/.exec(authority);
  if (hp === null)
    throw new UrlSyntaxError(`URL address does not have the form "host:port": ${text}`);
  const port = Number(hp[3]);
  if (!Number.isSafeInteger(port) || port > 65535) {
    throw new UrlSyntaxError(`URL port is out of range: ${text}`);
  }
  if (rest !== '') throw new UrlSyntaxError(`URL must not contain a path: ${text}`);
  const bracketed = hp[1];
  if (bracketed !== undefined && isIP(bracketed) !== 6) {
    throw new UrlSyntaxError(`URL host in brackets is not an IPv6 address: ${text}`);
  }
  return { scheme, host: bracketed ?? hp[2] ?? '', port };
}

/** Parses one URL with etcd's rules; throws UrlSyntaxError. */
export function parseUrl(text: string): ConfigUrl {
  const raw = splitRawUrl(text.trim());
  const host = isIP(raw.host) === 6 ? `[${raw.host}]` : raw.host;
  let url: URL;
  try {
    url = new URL(`${raw.scheme}://${host}:${raw.port}`);
  } catch {
    throw new UrlSyntaxError(`URL host is not valid: ${text}`);
  }
  return Object.freeze(url);
}

/** Parses a comma-separated list (or the items of a YAML list): unique, sorted. */
export function parseUrlList(items: readonly string[]): ConfigUrl[] {
  const byText = new Map<string, ConfigUrl>();
  for (const item of items) {
    const url = parseUrl(item);
    byText.set(formatUrl(url), url);
  }
  return [...byText.keys()].sort().map((k) => byText.get(k) as ConfigUrl);
}

export function splitCommaList(text: string): string[] {
  return text.split(',').map((s) => s.trim());
}

/** host (no brackets) and port (the scheme's default filled in) of a parsed URL. */
export function urlHostPort(url: ConfigUrl): { readonly host: string; readonly port: number } {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? (DEFAULT_PORTS[url.protocol] ?? 0) : Number(url.port);
  return { host, port };
}

/** `scheme://host:port`, always with the port, never with a trailing slash. */
export function formatUrl(url: ConfigUrl): string {
  const { host, port } = urlHostPort(url);
  const shown = isIP(host) === 6 ? `[${host}]` : host;
  return `${url.protocol}//${shown}:${port}`;
}

export function formatUrls(urls: readonly ConfigUrl[]): string {
  return urls.map(formatUrl).join(',');
}

export function isTlsScheme(url: ConfigUrl): boolean {
  return url.protocol === 'https:' || url.protocol === 'unixs:';
}

function isUnix(url: ConfigUrl): boolean {
  return url.protocol === 'unix:' || url.protocol === 'unixs:';
}

/**
 * etcd's checkBindURLs: a listen URL names an IP address or `localhost`, never another
 * host name. Returns the first offending URL text, or undefined.
 */
export function findNonBindableUrl(urls: readonly ConfigUrl[]): string | undefined {
  for (const url of urls) {
    if (isUnix(url)) continue;
    const { host } = urlHostPort(url);
    if (host === 'localhost') continue;
    if (isIP(host) === 0) return formatUrl(url);
  }
  return undefined;
}

/** etcd's checkHostURLs: an advertised URL has a non-empty host. */
export function findHostlessUrl(urls: readonly ConfigUrl[]): string | undefined {
  for (const url of urls) {
    if (isUnix(url)) continue;
    if (urlHostPort(url).host === '') return formatUrl(url);
  }
  return undefined;
}

/**
 * Parses `name=url,name=url,...` (types.NewURLsMap): a name may repeat to give a member
 * several peer URLs; empty entries are skipped. Members keep first-appearance order,
 * each member's URLs are unique and sorted.
 */
export function parseInitialCluster(text: string): InitialClusterMember[] {
  const urlsByName = new Map<string, string[]>();
  for (const entry of text.split(',')) {
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq < 0) throw new UrlSyntaxError(`entry ${JSON.stringify(entry)} is not name=peerURL`);
    const name = entry.slice(0, eq);
    const list = urlsByName.get(name) ?? [];
    list.push(entry.slice(eq + 1));
    urlsByName.set(name, list);
  }
  const members: InitialClusterMember[] = [];
  for (const [name, urls] of urlsByName) {
    members.push(Object.freeze({ name, peerUrls: Object.freeze(parseUrlList(urls)) }));
  }
  return members;
}

/** A URL that appears more than once across members (etcd's checkDuplicateURL). */
export function findDuplicateClusterUrl(
  members: readonly InitialClusterMember[],
): string | undefined {
  const seen = new Set<string>();
  for (const member of members) {
    for (const url of member.peerUrls) {
      const text = formatUrl(url);
      if (seen.has(text)) return text;
      seen.add(text);
    }
  }
  return undefined;
}
