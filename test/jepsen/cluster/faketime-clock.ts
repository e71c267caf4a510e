/**
 * One member's libfaketime clock, driven by the harness (test/jepsen/README.md "Clock rate").
 *
 * Contract: `env()` is what a process needs to run under this clock; `restart()` before each
 * spawn starts a fresh clock (rate kept, no offset) whose start the harness chose; after
 * that, `setRate(r)` makes the process's wall and monotonic clocks run at r x real time
 * without ever stepping back, and `setOffset(s)` moves the wall clock (only for members
 * whose monotonic clock stays real). `dispose()` removes the files it made.
 *
 * Why the start is ours: libfaketime computes fake = U + (now - start) x rate with
 * U = start(wall) + offset, from the process's start, so keeping fake time continuous at a
 * rate change needs that start exactly: a start d later than assumed steps the clock by
 * d x (old rate - new rate), back on a speed-up (Node aborts: `CHECK_GE(time, prev_)` in
 * Histogram::RecordDelta). libfaketime takes the start from its shared memory when
 * FAKETIME_SHARED names one whose start is set (ftpl_init; otherwise the first process,
 * here `ip`, makes one per pid and leaves it in /dev/shm), so we make that shared memory
 * ourselves with the start we read, per spawn. Layout (libfaketime 0.9.10,
 * faketime_common.h `ft_shared_s`): ticks u64, file_idx u64, then start times real, mon,
 * mon_raw, boot as {tv_sec, tv_nsec} int64 pairs; the semaphore is glibc's 32-byte sem_t
 * (value 1, shared), as sem_open would create it.
 *
 * The timestamp file is replaced by rename (libfaketime re-reads it on every clock read,
 * FAKETIME_NO_CACHE, and an empty half-written file makes it exit). A process reads the
 * new line from its first clock read after the rename, so a speed-up crosses the old line
 * at the moment we compute it (every later read is on or above the old line) and a
 * slow-down crosses it SLOW_DOWN_AHEAD_NS later, when the file must have been replaced
 * (the clock steps forward by at most that x the rate change, never back); a rename that
 * takes longer is counted in `lateSwitches`.
 *
 * `watchClock` checks that: a twin process under the same clock (the same shared start and
 * timestamp file, so the same fake time as the member) reads CLOCK_MONOTONIC in a busy
 * loop around a switch and reports every step back it saw.
 */
import { spawn } from 'node:child_process';
import { renameSync, rmSync, writeFileSync } from 'node:fs';

const SHM_DIR = '/dev/shm';
/** How far ahead of now a slow-down crosses the old line (forward step <= this x rate change). */
export const SLOW_DOWN_AHEAD_NS = 30_000_000n;

let clocks = 0;

function nowNs(): bigint {
  return process.hrtime.bigint();
}

function writeAtomically(path: string, data: string | Buffer): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

export interface ClockStart {
  /** CLOCK_MONOTONIC (ns), as process.hrtime.bigint() reads it outside libfaketime. */
  readonly monoNs: bigint;
  /** CLOCK_REALTIME (ns) at the same moment (ms precision). */
  readonly realNs: bigint;
}

export class FaketimeClock {
  private readonly shm: string;
  private readonly sem: string;
  private start: ClockStart | undefined;
  private rateNow = 1;
  private offsetS = 0;
  /** Slow-downs whose file landed after their crossing point (the clock may have stepped back). */
  lateSwitches = 0;

  /**
   * `startSkewNs` is for the bite test only: the start written for libfaketime is that much
   * later than the one this object computes with, as when the start was taken at spawn.
   */
  constructor(
    readonly file: string,
    readonly fakeMonotonic: boolean,
    private readonly startSkewNs = 0n,
  ) {
    const name = `tsetcd-jepsen-${process.pid}-${++clocks}`;
    this.shm = name;
    this.sem = name;
    writeAtomically(file, '+0\n');
  }

  env(): Record<string, string> {
    return {
      FAKETIME_TIMESTAMP_FILE: this.file,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_SHARED: `/${this.sem} /${this.shm}`,
      // Unless fakeMonotonic (rates only), CLOCK_MONOTONIC stays real: faked, an offset
      // jumps performance.now() (lease expiry) by the whole offset and a negative one stalls
      // every libuv timer (README "The wall-clock fault").
      FAKETIME_DONT_FAKE_MONOTONIC: this.fakeMonotonic ? '0' : '1',
    };
  }

  /** Before a spawn: a fresh start now, the rate in force, no offset (a restarted member's clock). */
  restart(): void {
    const sem = Buffer.alloc(32);
    sem.writeBigUInt64LE(1n, 0); // value 1, no waiters
    sem.writeInt32LE(128, 8); // FUTEX_SHARED: process-shared
    writeAtomically(`${SHM_DIR}/sem.${this.sem}`, sem);
    const start: ClockStart = { monoNs: nowNs(), realNs: BigInt(Date.now()) * 1_000_000n };
    const shm = Buffer.alloc(80);
    const put = (at: number, ns: bigint): void => {
      shm.writeBigInt64LE(ns / 1_000_000_000n, at);
      shm.writeBigInt64LE(ns % 1_000_000_000n, at + 8);
    };
    const mono = start.monoNs + this.startSkewNs;
    put(16, start.realNs + this.startSkewNs);
    put(32, mono);
    put(48, mono); // CLOCK_MONOTONIC_RAW and CLOCK_BOOTTIME: node reads neither; a constant shift
    put(64, mono);
    writeAtomically(`${SHM_DIR}/${this.shm}`, shm);
    this.start = start;
    this.offsetS = 0;
    if (this.fakeMonotonic) this.write();
    else writeAtomically(this.file, '+0\n');
  }

  get rate(): number {
    return this.rateNow;
  }

  /** The clocks run at `rate` x real time from now on; the process (if running) sees no step back. */
  setRate(rate: number, running: boolean): void {
    if (!this.fakeMonotonic) throw new Error('a clock rate needs the monotonic clock faked too');
    if (running && this.start !== undefined && rate !== this.rateNow) {
      const slower = rate < this.rateNow;
      const cross = nowNs() + (slower ? SLOW_DOWN_AHEAD_NS : 0n);
      this.offsetS += (Number(cross - this.start.monoNs) / 1e9) * (this.rateNow - rate);
      this.rateNow = rate;
      this.write();
      if (slower && nowNs() > cross) this.lateSwitches++;
      return;
    }
    this.rateNow = rate;
    if (running) this.write();
  }

  /** The wall clock `seconds` off real time (monotonic clock real). */
  setOffset(seconds: number): void {
    if (this.fakeMonotonic) {
      throw new Error('an offset would make a faked monotonic clock jump (test/jepsen/README.md "Clock rate")');
    }
    writeAtomically(this.file, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
  }

  private write(): void {
    const off = this.offsetS;
    // Always with the rate: a spec without one keeps libfaketime's previous rate (measured).
    writeAtomically(this.file, `${off >= 0 ? '+' : '-'}${Math.abs(off).toFixed(9)} x${this.rateNow}\n`);
  }

  dispose(): void {
    rmSync(`${SHM_DIR}/${this.shm}`, { force: true });
    rmSync(`${SHM_DIR}/sem.${this.sem}`, { force: true });
  }
}

/** What a twin saw: its fake CLOCK_MONOTONIC at ready and at stop, reads, and steps back. */
export interface ClockWatch {
  readonly firstNs: bigint;
  readonly lastNs: bigint;
  readonly reads: number;
  readonly backSteps: number;
  readonly maxBackNs: bigint;
}

// Reads process.hrtime.bigint() (CLOCK_MONOTONIC, faked) in a busy loop, yielding every
// 500 reads so stdin's "stop" gets through; prints "ready <ns>" and at stop one JSON line.
const TWIN = `
let prev = process.hrtime.bigint(), reads = 0, back = 0, maxBack = 0n, stop = false;
const first = prev;
process.stdin.on('data', () => { stop = true; });
process.stdout.write('ready ' + first + '\\n');
function spin() {
  for (let i = 0; i < 500; i++) {
    const t = process.hrtime.bigint();
    reads++;
    if (t < prev) { back++; if (prev - t > maxBack) maxBack = prev - t; }
    prev = t;
  }
  if (!stop) return setImmediate(spin);
  process.stdout.write(JSON.stringify({ firstNs: String(first), lastNs: String(prev), reads, backSteps: back, maxBackNs: String(maxBack) }) + '\\n', () => process.exit(0));
}
spin();
`;

/**
 * Starts a twin under `clock` (libfaketime preloaded from `preload`); resolves once it reads
 * the clock. `stop()` ends it and returns what it saw; it is killed after `timeoutMs`.
 */
export async function watchClock(
  clock: FaketimeClock,
  preload: string,
  timeoutMs = 20_000,
): Promise<{ stop(): Promise<ClockWatch> }> {
  const child = spawn(process.execPath, ['-e', TWIN], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...clock.env(), LD_PRELOAD: preload },
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const ended = new Promise<string>((resolve) => child.once('exit', () => resolve(out)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve();
    });
    child.once('exit', (code, signal) => reject(new Error(`clock twin ended (${String(code ?? signal)}) before reading: ${err}`)));
  });
  return {
    async stop() {
      child.stdin.end('stop\n');
      const text = await ended;
      clearTimeout(killer);
      const line = text.split('\n').find((l) => l.startsWith('{'));
      if (line === undefined) throw new Error(`clock twin gave no result: ${text} ${err}`);
      const r = JSON.parse(line) as Record<string, string | number>;
      return {
        firstNs: BigInt(r['firstNs'] as string),
        lastNs: BigInt(r['lastNs'] as string),
        reads: Number(r['reads']),
        backSteps: Number(r['backSteps']),
        maxBackNs: BigInt(r['maxBackNs'] as string),
      };
    },
  };
}
