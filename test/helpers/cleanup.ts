/**
 * Last-resort cleanup that survives the test process itself: vitest may end a worker
 * with a signal, in which case neither afterAll hooks nor process 'exit' handlers run.
 * Each function starts a tiny detached shell that polls (once a second) whether the
 * test process is alive, and acts once it is gone.
 *
 * Contract: removeWhenTestProcessExits(path) deletes `path` (recursively) after the
 * test process exits; killWhenTestProcessExits(pid) SIGKILLs `pid` then. Both return
 * the watchdog's ChildProcess so that a caller can cancel it early (kill it), which
 * it must do for killWhenTestProcessExits once the watched process has exited, so a
 * recycled pid is never signalled. runWhenTestProcessExits(file, args) runs a command
 * then (an idempotent clean-up script, e.g. one that removes containers). Normal cleanup
 * (afterAll, dispose) stays the first line: these only catch what it missed.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

function watchdog(action: string, args: readonly string[]): ChildProcess {
  const script = `while kill -0 "$1" 2>/dev/null; do sleep 1; done; ${action}`;
  const dog = spawn('sh', ['-c', script, 'tsetcd-test-watchdog', String(process.pid), ...args], {
    stdio: 'ignore',
    detached: true,
  });
  dog.unref();
  return dog;
}

export function removeWhenTestProcessExits(path: string): ChildProcess {
  return watchdog('rm -rf "$2"', [path]);
}

export function killWhenTestProcessExits(pid: number): ChildProcess {
  return watchdog('kill -9 "$2" 2>/dev/null', [String(pid)]);
}

/** Runs `file args...` after the test process exits (e.g. a script that removes containers). */
export function runWhenTestProcessExits(file: string, args: readonly string[]): ChildProcess {
  return watchdog('shift; "$@" >/dev/null 2>&1', [file, ...args]);
}
