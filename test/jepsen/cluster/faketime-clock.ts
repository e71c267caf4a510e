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
 * When a switch lands: with FAKETIME_NO_CACHE every clock read of every thread re-reads the
 * timestamp file into one static buffer and re-parses it without a lock, so around a
 * switch a thread can read half the old and half the new spec, or the new offset with the
 * old rate: an error of (process age) x (rate change), measured as a 66.8 s step back in
 * a row (the twin below saw it). So rate clocks use libfaketime's cache with
 * FAKETIME_CACHE_DURATION=0: a process re-reads the file at its first clock read in each
 * new second of real time (0.9.11's `fake_clock_gettime` checks the real wall clock), so
 * nothing reads it while it changes, and the switch lands at a second boundary B, known
 * from Date.now() to 1 ms. Measured here (0.9.10), a process sometimes switched up to
 * 27 ms before B, so a speed-up is written 25-120 ms before B and meets the old line when
 * written or 80 ms before B, whichever is later (any switch from then on steps forward),
 * and a slow-down is written in the middle of a second and meets it 40 ms after B (any
 * earlier switch steps forward). The clock thus steps forward by up to 80 ms x the rate
 * change at a switch (a lease on a leader going 1x to 2x ends up to 40 ms early), never
 * back, and
 * never by the process's age. A speed-up written after B - 5 ms is counted in
 * `lateSwitches` (it may land a second late: forward). The file is replaced by rename (a
 * half-written empty file makes libfaketime exit). Wall-clock offsets (monotonic clock
 * real) keep FAKETIME_NO_CACHE, so an offset lands at once and its check reads it back.
 *
 * `watchClock` checks that: a twin process under the same clock (the same shared start and
 * timestamp file, so the same fake time as the member) reads CLOCK_MONOTONIC in a busy
 * loop around a switch and reports every step back it saw.
 */
import { spawn } from 'node:child_process';
import { renameSync, rmSync, writeFileSync } from 'node:fs';

const SHM_DIR = '/dev/shm';
const MS = 1_000_000n;
/**
 * How far from the second boundary a process may switch (measured up to 27 ms early): a
 * slow-down meets the old line this long after it, a speed-up twice this long before it.
 */
const JITTER_MS = 40n;

let clocks = 0;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Resolves once Date.now() % 1000 is in [from, to] (ms). */
async function untilSecondFraction(from: number, to: number): Promise<void> {
  for (;;) {
    const frac = Date.now() % 1000;
    if (frac >= from && frac <= to) return;
    await sleep((from - frac + 1000) % 1000);
  }
}

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
  /** Switches whose file was replaced later than 5 ms before the boundary (it may land a second late). */
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
      ...(this.fakeMonotonic ? { FAKETIME_CACHE_DURATION: '0' } : { FAKETIME_NO_CACHE: '1' }),
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

  /**
   * The clocks run at `rate` x real time from the next second boundary of real time on
   * (within 2 s); a running process sees no step back. Resolves once it has, with the
   * CLOCK_MONOTONIC time (ns) where the new line meets the old (undefined when no process
   * runs or the rate is unchanged).
   */
  async setRate(rate: number, running: boolean, beforeWrite?: () => Promise<void>): Promise<bigint | undefined> {
    if (!this.fakeMonotonic) throw new Error('a clock rate needs the monotonic clock faked too');
    if (!running || this.start === undefined || rate === this.rateNow) {
      this.rateNow = rate;
      if (running) this.write();
      return undefined;
    }
    const slower = rate < this.rateNow;
    // A slow-down is written in the middle of a second and crosses JITTER_MS after the
    // boundary; a speed-up is written just before the boundary and crosses at once.
    // `beforeWrite` (a twin's go) runs inside the window; a window it overran is retried.
    let ready = false;
    for (let hook = beforeWrite; !ready; hook = undefined) {
      await untilSecondFraction(slower ? 400 : 880, slower ? 700 : 940);
      await hook?.();
      const frac = Date.now() % 1000;
      ready = slower ? frac >= 400 && frac <= 800 : frac >= 880 && frac <= 975;
    }
    const m0 = nowNs();
    const d = Date.now();
    const m1 = nowNs();
    // Real time was in [d, d + 1 ms) at some instant in [m0, m1]: B lies in [lo, hi].
    const toNext = BigInt(Math.floor(d / 1000) * 1000 + 1000 - d);
    const lo = m0 + (toNext - 1n) * MS;
    const hi = m1 + toNext * MS;
    const cross = slower ? hi + JITTER_MS * MS : m0 > lo - 2n * JITTER_MS * MS ? m0 : lo - 2n * JITTER_MS * MS;
    this.offsetS += (Number(cross - this.start.monoNs) / 1e9) * (this.rateNow - rate);
    this.rateNow = rate;
    this.write();
    if (nowNs() > lo - 5n * MS) this.lateSwitches++;
    await sleep(Number((hi + JITTER_MS * MS - nowNs()) / MS) + 5);
    return cross;
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

// Reads process.hrtime.bigint() (CLOCK_MONOTONIC, faked) every 20 ms until told "go", then
// in a busy loop (yielding by setImmediate, which waits on no clock: a timer would wait out a
// step back and hide it) until "stop"; prints "ready", "busy" and at stop one JSON line.
const TWIN = `
let prev = process.hrtime.bigint(), reads = 0, back = 0, maxBack = 0n, busy = false, stop = false;
const first = prev;
function read() {
  const t = process.hrtime.bigint();
  reads++;
  if (t < prev) { back++; if (prev - t > maxBack) maxBack = prev - t; }
  prev = t;
}
function spin() {
  for (let i = 0; i < 200; i++) read();
  if (!stop) return setImmediate(spin);
  process.stdout.write(JSON.stringify({ firstNs: String(first), lastNs: String(prev), reads, backSteps: back, maxBackNs: String(maxBack) }) + '\\n', () => process.exit(0));
}
const idle = setInterval(read, 20);
process.stdin.on('data', (d) => {
  if (String(d).includes('stop')) stop = true;
  if (!busy) { busy = true; clearInterval(idle); process.stdout.write('busy\\n'); spin(); }
});
process.stdout.write('ready\\n');
`;

/** A twin process reading a clock: `go()` starts its busy loop, `stop()` ends it with what it saw. */
export interface ClockTwin {
  go(): Promise<void>;
  stop(): Promise<ClockWatch>;
}

/**
 * Starts a twin under `clock` (libfaketime preloaded from `preload`); resolves once it reads
 * the clock. `stop()` ends it and returns what it saw; it is killed after `timeoutMs`.
 */
export async function watchClock(clock: FaketimeClock, preload: string, timeoutMs = 30_000): Promise<ClockTwin> {
  const child = spawn(process.execPath, ['-e', TWIN], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...clock.env(), LD_PRELOAD: preload },
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const ended = new Promise<string>((resolve) => child.once('exit', () => resolve(out)));
  const seen = (word: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (out.includes(word)) resolve();
      };
      child.stdout.on('data', check);
      check();
      child.once('exit', (code, signal) => reject(new Error(`clock twin ended (${String(code ?? signal)}): ${err}`)));
    });
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await seen('ready');
  return {
    async go() {
      child.stdin.write('go\n');
      await seen('busy');
    },
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
