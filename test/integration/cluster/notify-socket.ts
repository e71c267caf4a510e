/**
 * A stand-in for systemd's notification socket: a unix datagram socket (python3,
 * since Node core has none) bound in a temp dir with SO_PASSCRED, so every datagram
 * arrives with the kernel's SCM_CREDENTIALS (pid, uid, gid): the pid systemd checks
 * against the unit's main pid under NotifyAccess=main.
 *
 * Contract: openNotifySocket() resolves once the socket is bound; `messages` collects
 * { pid, uid, gid, data, atMs } per datagram (atMs: wall clock at receipt, comparable
 * with Date.now()); waitForMessage() is bounded; close() ends the receiver and removes
 * its dir. The receiver also exits by itself when the test process is gone (it polls
 * its parent), and a watchdog (helpers/cleanup.ts) kills it if the test process dies.
 * startMemberWithEnv() starts a member whose process (and only it) sees extra
 * environment variables.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killWhenTestProcessExits, removeWhenTestProcessExits } from '../../helpers/cleanup.js';
import type { Member, MemberSpec } from '../../helpers/processes.js';
import { startMember } from '../../helpers/processes.js';
import { waitFor } from './cluster.js';

const RECEIVER = `
import json, os, socket, struct, sys, time
path = sys.argv[1]
parent = os.getppid()
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path)
s.settimeout(0.5)
print(json.dumps({"listening": path}), flush=True)
while os.getppid() == parent:
    try:
        msg, anc, _flags, _addr = s.recvmsg(4096, socket.CMSG_SPACE(12))
    except socket.timeout:
        continue
    pid = uid = gid = None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid, uid, gid = struct.unpack("iII", data[:12])
    print(json.dumps({"pid": pid, "uid": uid, "gid": gid,
                      "data": msg.decode("utf-8", "replace"), "atMs": time.time() * 1000}),
          flush=True)
`;

export interface NotifyMessage {
  readonly pid: number | null;
  readonly uid: number | null;
  readonly gid: number | null;
  readonly data: string;
  readonly atMs: number;
}

export class NotifySocket {
  readonly messages: NotifyMessage[] = [];

  constructor(
    readonly path: string,
    private readonly dir: string,
    private readonly child: ChildProcess,
    private readonly watchdog: ChildProcess | undefined,
  ) {}

  waitForMessage(
    what: string,
    timeoutMs: number,
    pred: (m: NotifyMessage) => boolean = () => true,
  ): Promise<NotifyMessage> {
    return waitFor(what, timeoutMs, () => Promise.resolve(this.messages.find(pred)), 50);
  }

  close(): void {
    this.child.kill('SIGKILL');
    this.watchdog?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function openNotifySocket(timeoutMs = 10_000): Promise<NotifySocket> {
  const dir = mkdtempSync(join(tmpdir(), 'tsetcd-test-notify-'));
  removeWhenTestProcessExits(dir);
  const path = join(dir, 'notify.sock');
  const child = spawn('python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  const watchdog = child.pid === undefined ? undefined : killWhenTestProcessExits(child.pid);
  child.once('exit', () => watchdog?.kill('SIGKILL'));
  let listening = false;
  let stderr = '';
  const socket = new NotifySocket(path, dir, child, watchdog);
  let buffered = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const parsed = JSON.parse(line) as Partial<NotifyMessage> & { listening?: string };
      if (parsed.listening !== undefined) listening = true;
      else socket.messages.push(parsed as NotifyMessage);
    }
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  try {
    await waitFor('the notify socket to be bound', timeoutMs, () => {
      if (child.exitCode !== null) throw new Error(`python3 receiver exited: ${stderr}`);
      return Promise.resolve(listening ? true : undefined);
    }, 20);
  } catch (err) {
    socket.close();
    throw err;
  }
  return socket;
}

/**
 * startMember() with `env` added to the member's environment only. startMember reads
 * process.env at spawn, which happens synchronously in the call when the spec carries
 * its ports; the variables are set for exactly that synchronous stretch. Callers check
 * the result with processEnvironment() (a member without them fails their test loudly).
 */
export function startMemberWithEnv(
  spec: MemberSpec,
  env: Readonly<Record<string, string>>,
): Promise<Member> {
  // Through the spec, not process.env: startMember awaits (beforeStart) before it spawns.
  return startMember({ ...spec, env: { ...spec.env, ...env } });
}
