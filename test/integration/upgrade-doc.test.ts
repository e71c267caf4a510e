/**
 * docs/upgrade.md run as written: every ```sh block of the page, in the page's order,
 * on three "masters" that each have their own temp dir standing in for `/work` and
 * `/opt/tsetcd` (a symlink to this checkout), with the seed's addresses mapped to
 * 127.0.0.1 ports and two shims on PATH: `systemctl start|stop etcd` runs and stops
 * the master's unit (`/work/etcd/bin/etcd --config-file=/work/etcd/cfg/etcd.yml`, what
 * etcd.service runs) and `scp FILE 192.168.100.11N:DIR` copies into master N's dir.
 * `every-master` blocks run on masters 1-3 side by side with master 1's name and address
 * rewritten (the page shows master 1's), `one-master` blocks on master 1. The only line not run
 * is the `git clone` placeholder of the install step.
 *
 * It starts from a seed-style 3-member etcd 3.4.23 cluster with mTLS holding puts, a
 * delete and a leased key; after "etcd to tsetcd" the three units run tsetcd and serve
 * those keys field for field at the same revision; the way back brings etcd back on its
 * own dirs with the same data; steps 6 and 7 again, one more put through tsetcd; after
 * "tsetcd to etcd" the units run etcd again and serve every key including that put.
 * Needs etcd, etcdctl and openssl: fails in CI without them, skips saying why outside CI.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { removeWhenTestProcessExits } from '../helpers/cleanup.js';
import { runEtcdctl, seedClientTls, type EtcdctlResult } from '../helpers/etcdctl.js';
import { freePorts } from '../helpers/ports.js';
import { requireTools } from '../helpers/require-tool.js';
import { seedStyleConfig } from '../helpers/seed-config.js';
import { describeRun, memberName, parseEtcdctlJson } from './cluster/cluster.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const root = mkdtempSync(join(tmpdir(), 'tsetcd-upgrade-doc-'));
removeWhenTestProcessExits(root);
const MASTERS = [1, 2, 3] as const;
let pki: TestPki;
let clientPorts: number[] = [];
let peerPorts: number[] = [];

const masterDir = (i: number): string => join(root, `m${i}`);

const SYSTEMCTL = `#!/bin/bash
# systemctl start|stop etcd for the master in $MASTER: etcd.service's ExecStart.
set -e
unit="$MASTER/work/etcd/bin/etcd"
case "$1 $2" in
  "start etcd")
    setsid "$unit" --config-file="$MASTER/work/etcd/cfg/etcd.yml" >> "$MASTER/unit.log" 2>&1 < /dev/null &
    echo $! > "$MASTER/unit.pid"
    sleep 0.3
    kill -0 "$(cat "$MASTER/unit.pid")" ;;
  "stop etcd")
    pid=$(cat "$MASTER/unit.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$MASTER/unit.pid" ;;
  *) echo "systemctl shim: unsupported: $*" >&2; exit 2 ;;
esac
`;

const SCP = `#!/bin/bash
# scp FILE 192.168.100.11N:DIR within the test: DIR is under this master's dir; copy to master N's.
set -e
host="\${2%%:*}"; path="\${2#*:}"
n="\${host##*.11}"
cp "$1" "$ROOT/m$n/\${path#"$MASTER"/}"
`;

interface Block {
  readonly tags: readonly string[];
  readonly text: string;
}

/** The page's ```sh blocks with their tags, dedented. */
function blocksOf(markdown: string): Block[] {
  const out: Block[] = [];
  const re = /^( *)```sh([^\n]*)\n([\s\S]*?)^ *```$/gm;
  for (let m = re.exec(markdown); m !== null; m = re.exec(markdown)) {
    const indent = (m[1] ?? '').length;
    const text = (m[3] ?? '')
      .split('\n')
      .map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length)))
      .join('\n');
    out.push({ tags: (m[2] ?? '').trim().split(/\s+/).filter((t) => t !== ''), text });
  }
  return out;
}

/** Master i's version of a block: its name and address, ports, and dirs. */
function forMaster(text: string, i: number, perMaster: boolean): string {
  let t = text;
  if (perMaster && i !== 1) t = t.replaceAll('kube-etcd-node01', memberName(i - 1)).replaceAll('192.168.100.111', `192.168.100.11${i}`);
  t = t.replaceAll('https://127.0.0.1:2379', `https://127.0.0.1:${clientPorts[i - 1]}`);
  t = t.replace(/https:\/\/192\.168\.100\.11([1-3]):(2379|2380)/g, (_m, k: string, port: string) => {
    const n = Number(k) - 1;
    return `https://127.0.0.1:${port === '2379' ? clientPorts[n] : peerPorts[n]}`;
  });
  return t.replaceAll('/opt/tsetcd', join(masterDir(i), 'opt', 'tsetcd')).replaceAll('/work/', `${join(masterDir(i), 'work')}/`);
}

interface Run {
  readonly code: number | null;
  readonly out: string;
}

function bash(script: string, i: number, timeoutMs = 60_000): Promise<Run> {
  return new Promise((done) => {
    const child = spawn('bash', ['-e', '-c', script], {
      env: { ...process.env, PATH: `${join(root, 'shims')}:${process.env['PATH'] ?? ''}`, MASTER: masterDir(i), ROOT: root },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => out.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      done({ code, out: Buffer.concat(out).toString() });
    });
  });
}

/** The last lines of each master's unit log, for failure messages. */
function unitLogs(): string {
  return MASTERS.map((i) => {
    const f = join(masterDir(i), 'unit.log');
    const all = existsSync(f) ? readFileSync(f, 'utf8').trimEnd().split('\n') : [];
    const lines = [...all.filter((l) => /"level":"(fatal|panic|error)"/.test(l)).slice(-8), '...', ...all.slice(-6)];
    return `master ${i} unit log:\n${lines.join('\n')}`;
  }).join('\n');
}

function unitPid(i: number): number | undefined {
  const f = join(masterDir(i), 'unit.pid');
  return existsSync(f) ? Number(readFileSync(f, 'utf8').trim()) : undefined;
}

/** What each master's unit process runs: 'etcd' (the Go binary) or 'tsetcd' (node). */
function serversRunning(): string[] {
  return MASTERS.map((i) => {
    const pid = unitPid(i);
    if (pid === undefined) return 'stopped';
    const exe = readlinkSync(`/proc/${pid}/exe`);
    return exe.endsWith('/etcd') ? 'etcd' : exe.includes('node') ? 'tsetcd' : exe;
  });
}

function etcdctl(args: readonly string[]): Promise<EtcdctlResult> {
  return runEtcdctl(args, { endpoints: clientPorts.map((p) => `https://127.0.0.1:${p}`), tls: seedClientTls(pki) });
}

function ok(r: EtcdctlResult): string {
  expect(r.code, describeRun(r)).toBe(0);
  return r.stdout;
}

/** Every key with every field, and the revision. */
async function served(): Promise<{ kvs: unknown[]; revision: string }> {
  const doc = parseEtcdctlJson(ok(await etcdctl(['get', '', '--prefix', '-w', 'json']))) as { kvs?: unknown[]; header: { revision: unknown } };
  return { kvs: doc.kvs ?? [], revision: String(doc.header.revision) };
}

async function untilOk(what: string, fn: () => Promise<Run>, timeoutMs = 30_000): Promise<Run> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await fn();
    if (r.code === 0 || Date.now() > end) {
      expect(r.code, `${what}:\n${r.out}\n${unitLogs()}`).toBe(0);
      return r;
    }
    await new Promise((d) => setTimeout(d, 500));
  }
}

beforeAll(async () => {
  pki = await makeTestPki();
}, 60_000);

afterAll(async () => {
  for (const i of MASTERS) {
    const pid = unitPid(i);
    if (pid === undefined) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

describe('docs/upgrade.md', () => {
  it('runs as written: etcd -> tsetcd, the way back, tsetcd -> etcd, the data kept throughout', async (ctx) => {
    requireTools(ctx, 'etcd', 'etcdctl', 'openssl');
    const ports = await freePorts(6);
    clientPorts = ports.slice(0, 3);
    peerPorts = ports.slice(3);
    mkdirSync(join(root, 'shims'));
    writeFileSync(join(root, 'shims', 'systemctl'), SYSTEMCTL, { mode: 0o755 });
    writeFileSync(join(root, 'shims', 'scp'), SCP, { mode: 0o755 });
    const cluster = MASTERS.map((i) => `${memberName(i - 1)}=https://127.0.0.1:${peerPorts[i - 1]}`).join(',');
    for (const i of MASTERS) {
      const work = join(masterDir(i), 'work');
      for (const d of ['etcd/bin', 'etcd/cfg', 'etcd/dat', 'cert']) mkdirSync(join(work, d), { recursive: true });
      mkdirSync(join(masterDir(i), 'opt'));
      symlinkSync(REPO, join(masterDir(i), 'opt', 'tsetcd'));
      symlinkSync('/usr/bin/etcd', join(work, 'etcd', 'bin', 'etcd'));
      copyFileSync(pki.caCert, join(work, 'cert', 'ca-etcd.pem'));
      copyFileSync(pki.cert, join(work, 'cert', 'etcd.pem'));
      copyFileSync(pki.key, join(work, 'cert', 'etcd-key.pem'));
      const config = seedStyleConfig({
        name: memberName(i - 1),
        dir: join(work, 'etcd'),
        clientPorts: [clientPorts[i - 1] ?? 0],
        peerPort: peerPorts[i - 1] ?? 0,
        pki,
        initialCluster: cluster,
      });
      writeFileSync(join(work, 'etcd', 'cfg', 'etcd.yml'), YAML.stringify(config));
    }
    const started = await Promise.all(MASTERS.map((i) => bash('systemctl start etcd', i)));
    for (const r of started) expect(r.code, r.out).toBe(0);
    await untilOk('the seed etcd cluster', () => etcdctl(['endpoint', 'health']).then((r) => ({ code: r.code, out: r.stdout + r.stderr })));
    for (let k = 0; k < 10; k++) ok(await etcdctl(['put', `/registry/k${k}`, `v${k}`]));
    ok(await etcdctl(['del', '/registry/k3']));
    const lease = /lease ([0-9a-f]+) granted/.exec(ok(await etcdctl(['lease', 'grant', '600'])))?.[1] ?? '';
    ok(await etcdctl(['put', '/registry/leased', 'x', `--lease=${lease}`]));
    const before = await served();
    expect(before.kvs).toHaveLength(10);

    const doc = readFileSync(join(REPO, 'docs', 'upgrade.md'), 'utf8');
    const blocks = blocksOf(doc);
    const env = blocks.find((b) => b.tags.includes('env'));
    expect(env, 'an env block').toBeDefined();
    const skipped: string[] = [];
    const runBlock = async (b: Block): Promise<void> => {
      const lines = b.text.split('\n').filter((l) => {
        if (!l.startsWith('git clone <tsetcd repository>')) return true;
        skipped.push(l);
        return false;
      });
      const masters = b.tags.includes('every-master') ? MASTERS : [1];
      const isCheck = b.text.includes('endpoint health');
      // The masters run a block side by side, as operators on three machines would.
      await Promise.all(
        masters.map(async (i) => {
          const script = `${forMaster(env?.text ?? '', i, false)}\n${forMaster(lines.join('\n'), i, true)}`;
          if (isCheck) await untilOk(`master ${i}: ${b.text}`, () => bash(script, i));
          else {
            const r = await bash(script, i);
            expect(r.code, `master ${i}:\n${script}\n${r.out}`).toBe(0);
          }
        }),
      );
    };
    const checks: string[][] = [];
    let extraPut: unknown;
    const stop = blocks.find((b) => b.tags.includes('stop'));
    const switchBlock = blocks.find((b) => b.tags.includes('switch'));
    const check = blocks.find((b) => b.tags.includes('check'));
    expect([stop, switchBlock, check].every((b) => b !== undefined)).toBe(true);
    for (const b of blocks) {
      if (b === env) continue;
      await runBlock(b);
      if (b.tags.includes('way-back') && b.text.includes('systemctl start')) {
        await untilOk('etcd back', () => etcdctl(['endpoint', 'health']).then((r) => ({ code: r.code, out: r.stdout + r.stderr })));
        checks.push(serversRunning());
        expect(await served()).toEqual(before);
        for (const again of [stop, switchBlock, check]) if (again !== undefined) await runBlock(again);
        checks.push(serversRunning());
        expect(await served()).toEqual(before);
        ok(await etcdctl(['put', '/registry/after', 'through tsetcd']));
        extraPut = (await served()).kvs.find((kv) => (kv as { key: string }).key === Buffer.from('/registry/after').toString('base64'));
        expect(extraPut).toBeDefined();
      } else if (b.text.includes('endpoint health') && b !== check) {
        checks.push(serversRunning());
      } else if (b === check && checks.length === 0) {
        checks.push(serversRunning());
        expect(await served()).toEqual(before);
      }
    }
    expect(checks).toEqual([
      ['tsetcd', 'tsetcd', 'tsetcd'],
      ['etcd', 'etcd', 'etcd'],
      ['tsetcd', 'tsetcd', 'tsetcd'],
      ['etcd', 'etcd', 'etcd'],
    ]);
    const after = await served();
    expect(after.revision).toBe(String(Number(before.revision) + 1));
    // '/registry/after' sorts before '/registry/k0'.
    expect(after.kvs).toEqual([extraPut, ...before.kvs]);
    expect(skipped).toHaveLength(1);
    // The new etcd cluster runs on the dirs of the last restore, the old ones untouched.
    for (const i of MASTERS) expect(readFileSync(join(masterDir(i), 'work', 'etcd', 'cfg', 'etcd.yml'), 'utf8')).toMatch(/data-dir: .*default\.etcd2/);
  }, 180_000);
});
