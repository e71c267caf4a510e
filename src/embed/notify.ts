/**
 * systemd readiness (sd_notify READY=1), sent once the member has joined the cluster,
 * as etcd does, so `Type=notify` units start dependents only when the member serves.
 *
 * systemd's default NotifyAccess=main accepts the message only from the main pid,
 * and the kernel stamps a datagram with the sender's pid. Node has no unix datagram
 * sockets, so we run `systemd-notify --ready --pid=<our pid>`: as root (the guide's
 * unit runs as root) systemd-notify may and does put our pid in SCM_CREDENTIALS, and
 * adds MAINPID=<our pid>; --no-block skips the BARRIER=1 datagram it would otherwise
 * send from its own pid (which systemd logs as foreign under NotifyAccess=main). A member run as another user needs NotifyAccess=all in its
 * unit (docs/operations.md). The launcher execs node, so our pid is the main pid.
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../shared/logger.js';

export function notifySystemdReady(logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const socket = env['NOTIFY_SOCKET'];
  if (socket === undefined || socket === '') return Promise.resolve(false);
  return new Promise((resolve) => {
    const child = spawn('systemd-notify', ['--ready', '--no-block', `--pid=${process.pid}`], {
      env: { ...env, NOTIFY_SOCKET: socket },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      logger.warn({ err }, 'cannot run systemd-notify; systemd will not see READY=1');
      resolve(false);
    });
    child.on('exit', (code) => {
      if (code === 0) {
        logger.info({ socket }, 'notified systemd that the member is ready');
        resolve(true);
      } else {
        logger.warn({ code, stderr: stderr.trim() }, 'systemd-notify failed');
        resolve(false);
      }
    });
  });
}
