/**
 * What a start checks before it creates or changes anything (etcd's embed.StartEtcd
 * binds its listeners and etcdserver.NewServer checks the data dir before the first
 * file is written), and the undo of a failed first start.
 *
 * Contract:
 *  - `tlsProblems`: every configured certificate/key pair parses and matches, every
 *    trusted CA file parses; any problem refuses the start (one line, the file named).
 *  - `checkDataDir`: an existing data dir (or wal dir) is writable (etcd's
 *    fileutil.TouchDirAll: a `.touch` file written and removed), and a mode other than
 *    0700 gets etcd's warning; a missing one needs a writable closest ancestor. A refusal
 *    names the user the process runs as.
 *  - `probePeerPorts`: every peer URL's port can be bound (then released at once; the
 *    transport binds it for good after the core opens, and `FirstStart.undo` covers
 *    the short race).
 *  - `FirstStart`: records what the data dir and wal dir held before a first start;
 *    `undo()` removes exactly what the failed start added, so the next start bootstraps
 *    from the configuration it is given (docs/architecture.md §3).
 */
import { constants } from 'node:fs';
import { access, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import type { Config } from '../config/index.js';
import { urlHostPort } from '../config/index.js';
import type { Logger } from '../shared/logger.js';
import { StartRefusal } from '../shared/errors.js';
import { certificateNotes, checkCaFile, checkKeyPair, loadCertificate } from '../tls/check.js';

type Side = Config['clientTls'];

function pairsOf(sec: Side): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  if (sec.certFile !== undefined && sec.keyFile !== undefined) pairs.push([sec.certFile, sec.keyFile]);
  const cc = sec.clientCertFile;
  const ck = sec.clientKeyFile;
  if (cc !== undefined && ck !== undefined && (cc !== sec.certFile || ck !== sec.keyFile)) pairs.push([cc, ck]);
  return pairs;
}

/** Problems that make the configured TLS impossible (see the contract). */
export function tlsProblems(config: Config): string[] {
  const out: string[] = [];
  for (const sec of [config.clientTls, config.peerTls]) {
    for (const [cert, key] of pairsOf(sec)) out.push(...checkKeyPair(cert, key));
    if (sec.trustedCaFile !== undefined) out.push(...checkCaFile(sec.trustedCaFile));
  }
  return [...new Set(out)];
}

/**
 * `tsetcd config check`'s certificate report: `errors` as tlsProblems plus an expired
 * certificate; `warnings`: advertised hosts missing from a serving certificate's SAN.
 */
export function certificateReport(config: Config, nowMs: number): { errors: string[]; warnings: string[] } {
  const errors = tlsProblems(config);
  const warnings: string[] = [];
  const sides: Array<[Side, readonly URL[]]> = [
    [config.clientTls, config.advertiseClientUrls],
    [config.peerTls, config.initialAdvertisePeerUrls],
  ];
  for (const [sec, urls] of sides) {
    if (sec.certFile === undefined) continue;
    const cert = loadCertificate(sec.certFile);
    if ('problem' in cert) continue; // reported by tlsProblems
    const hosts = urls.filter((u) => u.protocol === 'https:').map((u) => urlHostPort(u).host);
    for (const note of certificateNotes(sec.certFile, cert, hosts, nowMs)) {
      (/expired|not valid before/.test(note) ? errors : warnings).push(note);
    }
  }
  return { errors: [...new Set(errors)], warnings: [...new Set(warnings)] };
}

function who(): string {
  let name = String(process.getuid?.() ?? '?');
  try {
    name = userInfo().username;
  } catch {
    /* a uid without a passwd entry */
  }
  return `user ${name} (uid ${process.getuid?.() ?? '?'})`;
}

/** Go's os.FileMode String() for a directory's permission bits ("drwxr-xr-x"). */
function goDirMode(mode: number): string {
  const rwx = 'rwxrwxrwx';
  let s = 'd';
  for (let i = 0; i < 9; i++) s += (mode & (1 << (8 - i))) !== 0 ? rwx[i] : '-';
  return s;
}

async function closestExisting(dir: string): Promise<string> {
  let d = dir;
  for (;;) {
    try {
      await stat(d);
      return d;
    } catch {
      if (dirname(d) === d) return d;
      d = dirname(d);
    }
  }
}

/** One directory the member writes in (the data dir, or a separate wal dir). */
async function checkDir(dir: string, log: Logger): Promise<void> {
  let mode: number | undefined;
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new StartRefusal('data-dir', `cannot access data directory: ${dir} is not a directory`);
    mode = st.mode & 0o777;
  } catch (err) {
    if (err instanceof StartRefusal) throw err;
  }
  if (mode === undefined) {
    const ancestor = await closestExisting(dirname(dir));
    try {
      await access(ancestor, constants.W_OK | constants.X_OK);
    } catch {
      throw new StartRefusal(
        'data-dir',
        `cannot access data directory: cannot create ${dir}: ${ancestor} is not writable by ${who()}`,
      );
    }
    return;
  }
  if (mode !== 0o700) {
    log.warn(
      {},
      `check file permission: directory "${dir}" exist, but the permission is "${goDirMode(mode)}". The recommended permission is "-rwx------" to prevent possible unprivileged access to the data.`,
    );
  }
  const touch = join(dir, '.touch');
  try {
    await writeFile(touch, '', { mode: 0o600 });
    await unlink(touch);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new StartRefusal('data-dir', `cannot access data directory: ${msg}; tsetcd runs as ${who()}`, { cause: err });
  }
}

/** The data dir and a separate wal dir are usable (see the contract). */
export async function checkDataDir(config: Config, log: Logger): Promise<void> {
  await checkDir(config.dataDir, log);
  if (config.walDir !== undefined && config.walDir !== '') await checkDir(config.walDir, log);
}

/** Binds and releases every peer URL's port: a taken port refuses the start now. */
export async function probePeerPorts(config: Config): Promise<void> {
  for (const url of config.listenPeerUrls) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    const { host, port } = urlHostPort(url);
    await new Promise<void>((resolve, reject) => {
      const server = createServer();
      server.once('error', (err) =>
        reject(new StartRefusal('listen', `cannot listen on peer URL ${url.origin}: ${err.message}`, { cause: err })),
      );
      server.listen({ host: host.replace(/^\[|\]$/g, ''), port: Number(port), exclusive: true }, () =>
        server.close(() => resolve()),
      );
    });
  }
}

/** What the directories held before a first start, to undo a failed one. */
export class FirstStart {
  private constructor(private readonly before: ReadonlyArray<readonly [string, readonly string[] | undefined]>) {}

  static async record(config: Config): Promise<FirstStart> {
    const dirs = [config.dataDir];
    if (config.walDir !== undefined && config.walDir !== '') dirs.push(config.walDir);
    const before: Array<readonly [string, readonly string[] | undefined]> = [];
    for (const d of dirs) {
      try {
        before.push([d, await readdir(d)]);
      } catch {
        before.push([d, undefined]);
      }
    }
    return new FirstStart(before);
  }

  /** Removes what the failed start created: missing dirs go, existing ones get their old entries back only. */
  async undo(log: Logger): Promise<void> {
    for (const [dir, entries] of this.before) {
      try {
        if (entries === undefined) {
          await rm(dir, { recursive: true, force: true });
          continue;
        }
        const keep = new Set(entries);
        for (const name of await readdir(dir)) {
          if (!keep.has(name)) await rm(join(dir, name), { recursive: true, force: true });
        }
      } catch (err) {
        log.warn({ dir, err }, 'could not remove what the failed first start created');
      }
    }
  }
}
