/**
 * SimFileLayer: an in-memory FileLayer that keeps durable and volatile state apart,
 * for crash tests and the deterministic simulator (docs/architecture.md §5; the ALICE crash-consistency study).
 *
 * Model (the FileLayer contract in file-layer.ts, taken literally):
 * - Every file has a durable image and a list of pending ops (write, truncate) since
 *   its last datasync/sync; reads see the volatile image (durable + pending).
 * - Every directory has durable entries and a list of pending entry changes (create,
 *   unlink, rename, mkdir, rmdir) since its last syncDir. A rename inside one directory
 *   is one atomic change; across directories it is two (ALICE treats them apart).
 * - `crash(rng, mode)` is a power cut: each file keeps none, all, a prefix (the last
 *   kept write torn at a sector boundary, the tear optionally garbage), or a random
 *   subset of the pages of its pending writes (reordering); each directory keeps none,
 *   all, a prefix or a subset of its pending changes, in order. Names that are not
 *   reachable from the root through durable entries vanish. Handles from before the
 *   crash fail with EBADF, so a dead process's in-flight promises change nothing.
 * - Every state change is appended to `opLog`; `clone()` + `replay(ops)` rebuild the
 *   state at any point, so a test can crash after each op (every crash point).
 * Determinism: the only randomness is the Rng passed to `crash`.
 */
import { posix } from 'node:path';
import { assert } from '../shared/assert.js';
import type { Rng } from '../shared/rng.js';
import { fsError } from '../storage/file-layer.js';
import type { FileHandle, FileLayer, FsErrorCode, OpenMode } from '../storage/file-layer.js';

export type SimOp =
  | { readonly kind: 'open'; readonly path: string; readonly mode: OpenMode; readonly fd: number }
  | { readonly kind: 'close'; readonly fd: number }
  | {
      readonly kind: 'write';
      readonly fd: number;
      readonly offset: number;
      readonly data: Uint8Array;
    }
  | { readonly kind: 'datasync' | 'sync'; readonly fd: number }
  | { readonly kind: 'truncate'; readonly fd: number; readonly size: number }
  | { readonly kind: 'mkdirp' | 'unlink' | 'rmdir' | 'syncDir'; readonly path: string }
  | { readonly kind: 'rename'; readonly from: string; readonly to: string };

export type SimOpKind = SimOp['kind'] | 'read' | 'stat';
/** 'drop': only durable state survives; 'keep': everything (a process crash); 'random': ALICE. */
export type CrashMode = 'drop' | 'keep' | 'random';

export interface SimFileLayerOptions {
  /** Granularity of out-of-order persistence (default 4096). */
  readonly pageBytes?: number;
  /** Granularity of a torn write (default 512). */
  readonly sectorBytes?: number;
  /** Awaited before each operation takes effect; the simulator uses it to add latency. */
  readonly beforeOp?: (kind: SimOpKind, path: string) => Promise<void> | void;
}

type FileChange =
  { kind: 'write'; offset: number; data: Uint8Array } | { kind: 'truncate'; size: number };
/** Entry changes applied atomically to one directory: name -> inode, or null to remove. */
type DirChange = ReadonlyArray<readonly [string, number | null]>;

class Bytes {
  constructor(
    public buf: Uint8Array = new Uint8Array(0),
    public size = 0,
  ) {}
  clone(): Bytes {
    return new Bytes(this.buf.slice(0, this.size), this.size);
  }
  apply(c: FileChange): void {
    if (c.kind === 'truncate') return this.truncate(c.size);
    const end = c.offset + c.data.length;
    this.reserve(end);
    if (c.offset > this.size) this.buf.fill(0, this.size, c.offset);
    this.buf.set(c.data, c.offset);
    this.size = Math.max(this.size, end);
  }
  truncate(n: number): void {
    if (n > this.size) {
      this.reserve(n);
      this.buf.fill(0, this.size, n);
    }
    this.size = n;
  }
  read(pos: number, len: number): Uint8Array {
    return this.buf.slice(Math.min(pos, this.size), Math.min(pos + len, this.size));
  }
  private reserve(n: number): void {
    if (n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(n, this.buf.length * 2, 64));
    next.set(this.buf.subarray(0, this.size));
    this.buf = next;
  }
}

class SimFile {
  readonly kind = 'file';
  constructor(
    public cur = new Bytes(),
    public durable = new Bytes(),
    public pending: FileChange[] = [],
  ) {}
  clone(): SimFile {
    return new SimFile(this.cur.clone(), this.durable.clone(), [...this.pending]);
  }
}

class SimDir {
  readonly kind = 'dir';
  constructor(
    public entries = new Map<string, number>(),
    public durable = new Map<string, number>(),
    public pending: DirChange[] = [],
  ) {}
  clone(): SimDir {
    return new SimDir(new Map(this.entries), new Map(this.durable), [...this.pending]);
  }
  change(c: DirChange): void {
    applyDirChange(this.entries, c);
    this.pending.push(c);
  }
}

function applyDirChange(m: Map<string, number>, c: DirChange): void {
  for (const [name, ino] of c) {
    if (ino === null) m.delete(name);
    else m.set(name, ino);
  }
}

interface OpenHandle {
  readonly ino: number;
  readonly writable: boolean;
}

const ROOT = 0;

export class SimFileLayer implements FileLayer {
  private nodes = new Map<number, SimFile | SimDir>([[ROOT, new SimDir()]]);
  private handles = new Map<number, OpenHandle>();
  private nextIno = 1;
  private nextFd = 3;
  private log: SimOp[] = [];
  private fault: ((kind: SimOpKind, path: string) => FsErrorCode | undefined) | undefined;
  readonly pageBytes: number;
  readonly sectorBytes: number;

  constructor(private readonly opts: SimFileLayerOptions = {}) {
    this.pageBytes = opts.pageBytes ?? 4096;
    this.sectorBytes = opts.sectorBytes ?? 512;
    assert(
      this.pageBytes > 0 && this.pageBytes % this.sectorBytes === 0,
      'pageBytes must be a multiple of sectorBytes',
    );
  }

  /** State changes since construction, the last clone or the last crash. */
  get opLog(): readonly SimOp[] {
    return this.log;
  }

  /** A deep copy of the state, with no open handles and an empty op log. */
  clone(): SimFileLayer {
    const c = new SimFileLayer(this.opts);
    c.nodes = new Map([...this.nodes].map(([ino, n]) => [ino, n.clone()]));
    c.nextIno = this.nextIno;
    c.nextFd = this.nextFd;
    c.fault = this.fault;
    return c;
  }

  /** Applies logged ops (from this layer's clone source) in order; each must succeed. */
  replay(ops: readonly SimOp[]): void {
    for (const op of ops) this.applyOp(op);
  }

  /** Make matching operations fail with an error code and no effect (EIO on sync, ...). */
  setFault(fn: ((kind: SimOpKind, path: string) => FsErrorCode | undefined) | undefined): void {
    this.fault = fn;
  }

  /** Whether anything is not yet durable. */
  hasUnsynced(): boolean {
    for (const n of this.nodes.values()) if (n.pending.length > 0) return true;
    return false;
  }

  /** Test inspection: a file's volatile or durable bytes, without an op. */
  peek(path: string, which: 'current' | 'durable' = 'current'): Uint8Array {
    const f = this.node(this.lookup(path, 'peek'), 'peek', path);
    assert(f.kind === 'file', `peek ${path}: not a file`);
    const b = which === 'current' ? f.cur : f.durable;
    return b.read(0, b.size);
  }

  crash(rng: Rng, mode: CrashMode = 'random'): void {
    this.handles.clear(); // every old handle is now EBADF
    for (const n of this.nodes.values()) {
      if (n.kind === 'file') this.crashFile(n, rng, mode);
      else this.crashDir(n, rng, mode);
    }
    this.collect();
    this.log = [];
  }

  // ---- FileLayer ----

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    await this.gate('open', path);
    const fd = this.nextFd;
    this.applyOp({ kind: 'open', path, mode, fd });
    return new SimHandle(this, fd, path);
  }
  async readdir(dir: string): Promise<string[]> {
    await this.gate('stat', dir);
    const d = this.node(this.lookup(dir, 'readdir'), 'readdir', dir);
    if (d.kind !== 'dir') throw fsError('ENOTDIR', 'readdir', dir);
    return [...d.entries.keys()].sort();
  }
  async mkdirp(dir: string): Promise<void> {
    await this.gate('mkdirp', dir);
    this.applyOp({ kind: 'mkdirp', path: dir });
  }
  async rename(from: string, to: string): Promise<void> {
    await this.gate('rename', from);
    this.applyOp({ kind: 'rename', from, to });
  }
  async unlink(path: string): Promise<void> {
    await this.gate('unlink', path);
    this.applyOp({ kind: 'unlink', path });
  }
  async rmdir(path: string): Promise<void> {
    await this.gate('rmdir', path);
    this.applyOp({ kind: 'rmdir', path });
  }
  async syncDir(dir: string): Promise<void> {
    await this.gate('syncDir', dir);
    this.applyOp({ kind: 'syncDir', path: dir });
  }
  async exists(path: string): Promise<boolean> {
    await this.gate('stat', path);
    return this.tryLookup(path) !== undefined;
  }
  async statSize(path: string): Promise<number> {
    await this.gate('stat', path);
    const f = this.node(this.lookup(path, 'stat'), 'stat', path);
    if (f.kind !== 'file') throw fsError('EISDIR', 'stat', path);
    return f.cur.size;
  }

  // ---- handle operations (called by SimHandle) ----

  /** @internal Used by SimHandle. */
  async readAt(fd: number, path: string, position: number, length: number): Promise<Uint8Array> {
    await this.gate('read', path);
    return this.fileOf(fd, 'read', path).cur.read(position, length);
  }
  /** @internal Used by SimHandle. */
  async sizeOf(fd: number, path: string): Promise<number> {
    await this.gate('stat', path);
    return this.fileOf(fd, 'stat', path).cur.size;
  }
  /** @internal Used by SimHandle. */
  async mutate(op: SimOp & { fd: number }, path: string): Promise<void> {
    await this.gate(op.kind, path);
    this.applyOp(op);
  }

  private async gate(kind: SimOpKind, path: string): Promise<void> {
    await this.opts.beforeOp?.(kind, path);
    const code = this.fault?.(kind, path);
    if (code !== undefined) throw fsError(code, kind, path);
  }

  private fileOf(fd: number, op: string, path: string): SimFile {
    const h = this.handles.get(fd);
    if (h === undefined) throw fsError('EBADF', op, path);
    const f = this.node(h.ino, op, path);
    assert(f.kind === 'file', 'handle points at a directory');
    return f;
  }

  /** The one place state changes; it logs the op after it succeeded. */
  private applyOp(op: SimOp): void {
    switch (op.kind) {
      case 'open':
        this.doOpen(op.path, op.mode, op.fd);
        break;
      case 'close':
        if (!this.handles.delete(op.fd)) throw fsError('EBADF', 'close', String(op.fd));
        break;
      case 'write':
      case 'truncate': {
        const h = this.handles.get(op.fd);
        if (h === undefined || !h.writable) throw fsError('EBADF', op.kind, String(op.fd));
        const f = this.fileOf(op.fd, op.kind, '');
        // op.data is owned by the log (SimHandle copied it) and never mutated.
        const change: FileChange =
          op.kind === 'write'
            ? { kind: 'write', offset: op.offset, data: op.data }
            : { kind: 'truncate', size: op.size };
        f.cur.apply(change);
        f.pending.push(change);
        break;
      }
      case 'datasync':
      case 'sync': {
        const f = this.fileOf(op.fd, op.kind, '');
        for (const c of f.pending) f.durable.apply(c);
        f.pending = [];
        break;
      }
      case 'mkdirp':
        this.doMkdirp(op.path);
        break;
      case 'unlink':
      case 'rmdir':
        this.doRemove(op.path, op.kind);
        break;
      case 'rename':
        this.doRename(op.from, op.to);
        break;
      case 'syncDir': {
        const d = this.node(this.lookup(op.path, 'syncDir'), 'syncDir', op.path);
        if (d.kind !== 'dir') throw fsError('ENOTDIR', 'syncDir', op.path);
        d.durable = new Map(d.entries);
        d.pending = [];
        break;
      }
    }
    this.log.push(op);
  }

  private doOpen(path: string, mode: OpenMode, fd: number): void {
    assert(fd === this.nextFd, `replayed open expects fd ${this.nextFd}, log says ${fd}`);
    let ino = this.tryLookup(path);
    if (mode === 'create-exclusive') {
      if (ino !== undefined) throw fsError('EEXIST', 'open', path);
      const [dir, name] = this.parent(path, 'open');
      ino = this.nextIno++;
      this.nodes.set(ino, new SimFile());
      dir.change([[name, ino]]);
    }
    if (ino === undefined) throw fsError('ENOENT', 'open', path);
    if (this.node(ino, 'open', path).kind !== 'file') throw fsError('EISDIR', 'open', path);
    this.handles.set(fd, { ino, writable: mode !== 'r' });
    this.nextFd++;
  }

  private doMkdirp(path: string): void {
    let ino = ROOT;
    for (const part of split(path)) {
      const d = this.node(ino, 'mkdirp', path);
      if (d.kind !== 'dir') throw fsError('ENOTDIR', 'mkdirp', path);
      let child = d.entries.get(part);
      if (child === undefined) {
        child = this.nextIno++;
        this.nodes.set(child, new SimDir());
        d.change([[part, child]]);
      }
      ino = child;
    }
    if (this.node(ino, 'mkdirp', path).kind !== 'dir') throw fsError('EEXIST', 'mkdirp', path);
  }

  private doRemove(path: string, kind: 'unlink' | 'rmdir'): void {
    const [dir, name] = this.parent(path, kind);
    const ino = dir.entries.get(name);
    if (ino === undefined) throw fsError('ENOENT', kind, path);
    const n = this.node(ino, kind, path);
    if (kind === 'unlink' && n.kind === 'dir') throw fsError('EISDIR', kind, path);
    if (kind === 'rmdir' && n.kind !== 'dir') throw fsError('ENOTDIR', kind, path);
    if (n.kind === 'dir' && n.entries.size > 0) throw fsError('ENOTEMPTY', kind, path);
    dir.change([[name, null]]);
  }

  private doRename(from: string, to: string): void {
    const [fromDir, fromName] = this.parent(from, 'rename');
    const [toDir, toName] = this.parent(to, 'rename');
    const ino = fromDir.entries.get(fromName);
    if (ino === undefined) throw fsError('ENOENT', 'rename', from);
    const target = toDir.entries.get(toName);
    if (target !== undefined && target !== ino) {
      const srcKind = this.node(ino, 'rename', from).kind;
      const dst = this.node(target, 'rename', to);
      if (srcKind === 'file' && dst.kind === 'dir') throw fsError('EISDIR', 'rename', to);
      if (srcKind === 'dir' && dst.kind === 'file') throw fsError('ENOTDIR', 'rename', to);
      if (dst.kind === 'dir' && dst.entries.size > 0) throw fsError('ENOTEMPTY', 'rename', to);
    }
    if (fromDir === toDir) {
      if (fromName !== toName)
        fromDir.change([
          [fromName, null],
          [toName, ino],
        ]);
    } else {
      toDir.change([[toName, ino]]);
      fromDir.change([[fromName, null]]);
    }
  }

  // ---- crash ----

  private crashFile(f: SimFile, rng: Rng, mode: CrashMode): void {
    const kept = mode === 'drop' ? [] : mode === 'keep' ? f.pending : this.choose(f.pending, rng);
    for (const c of kept) f.durable.apply(c);
    f.pending = [];
    f.cur = f.durable.clone();
  }

  /** ALICE-style choice of which pending changes reach the disk. */
  private choose(pending: FileChange[], rng: Rng): FileChange[] {
    if (pending.length === 0) return [];
    switch (rng.int(4)) {
      case 0:
        return [];
      case 1:
        return pending;
      case 2: {
        // a prefix, the next write torn at a sector boundary (maybe garbage past the tear)
        const k = rng.int(pending.length + 1);
        const out = pending.slice(0, k);
        const next = pending[k];
        if (next?.kind === 'write') out.push(...this.tear(next, rng));
        return out;
      }
      default: {
        // a random subset of pages, in any order (later pages may survive earlier ones)
        const out: FileChange[] = [];
        for (const c of pending) {
          if (c.kind === 'truncate') {
            if (rng.int(2) === 0) out.push(c);
            continue;
          }
          for (const piece of pieces(c, this.pageBytes)) if (rng.int(2) === 0) out.push(piece);
        }
        return out;
      }
    }
  }

  private tear(w: { offset: number; data: Uint8Array }, rng: Rng): FileChange[] {
    const sectors = pieces({ kind: 'write', ...w }, this.sectorBytes);
    const keep = rng.int(sectors.length); // strictly fewer than all
    const out: FileChange[] = sectors.slice(0, keep);
    const torn = sectors[keep];
    if (torn !== undefined && rng.int(4) === 0) {
      const garbage = new Uint8Array(torn.data.length);
      for (let i = 0; i < garbage.length; i++) garbage[i] = rng.int(256);
      out.push({ kind: 'write', offset: torn.offset, data: garbage });
    }
    return out;
  }

  private crashDir(d: SimDir, rng: Rng, mode: CrashMode): void {
    let kept: DirChange[];
    if (mode === 'drop') kept = [];
    else if (mode === 'keep') kept = d.pending;
    else {
      const v = rng.int(4);
      if (v === 0) kept = [];
      else if (v === 1) kept = d.pending;
      else if (v === 2) kept = d.pending.slice(0, rng.int(d.pending.length + 1));
      else kept = d.pending.filter(() => rng.int(2) === 0);
    }
    for (const c of kept) applyDirChange(d.durable, c);
    d.pending = [];
    d.entries = new Map(d.durable);
  }

  /** Drops inodes unreachable from the root (their names never became durable). */
  private collect(): void {
    const seen = new Set<number>();
    const walk = (ino: number): void => {
      if (seen.has(ino)) return;
      const n = this.nodes.get(ino);
      if (n === undefined) return;
      seen.add(ino);
      if (n.kind === 'dir') for (const child of n.entries.values()) walk(child);
    };
    walk(ROOT);
    for (const [ino, n] of this.nodes) {
      if (!seen.has(ino)) this.nodes.delete(ino);
      else if (n.kind === 'dir')
        for (const [name, c] of n.entries) if (!this.nodes.has(c)) n.entries.delete(name);
    }
    for (const n of this.nodes.values()) if (n.kind === 'dir') n.durable = new Map(n.entries);
  }

  // ---- paths ----

  private node(ino: number, op: string, path: string): SimFile | SimDir {
    const n = this.nodes.get(ino);
    if (n === undefined) throw fsError('ENOENT', op, path);
    return n;
  }
  private tryLookup(path: string): number | undefined {
    let ino = ROOT;
    for (const part of split(path)) {
      const n = this.nodes.get(ino);
      if (n === undefined || n.kind !== 'dir') return undefined;
      const child = n.entries.get(part);
      if (child === undefined) return undefined;
      ino = child;
    }
    return ino;
  }
  private lookup(path: string, op: string): number {
    const ino = this.tryLookup(path);
    if (ino === undefined) throw fsError('ENOENT', op, path);
    return ino;
  }
  private parent(path: string, op: string): [SimDir, string] {
    const parts = split(path);
    const name = parts.pop();
    if (name === undefined) throw fsError('EISDIR', op, path);
    const d = this.node(this.lookup('/' + parts.join('/'), op), op, path);
    if (d.kind !== 'dir') throw fsError('ENOTDIR', op, path);
    return [d, name];
  }
}

function split(path: string): string[] {
  return posix
    .resolve('/', path)
    .split('/')
    .filter((p) => p.length > 0);
}

/** Splits a write at multiples of `unit` (file offsets), so pieces are pages/sectors. */
function pieces(
  w: { kind: 'write'; offset: number; data: Uint8Array },
  unit: number,
): Array<FileChange & { kind: 'write' }> {
  const out: Array<FileChange & { kind: 'write' }> = [];
  let pos = w.offset;
  const end = w.offset + w.data.length;
  while (pos < end) {
    const next = Math.min(end, (Math.floor(pos / unit) + 1) * unit);
    out.push({
      kind: 'write',
      offset: pos,
      data: w.data.subarray(pos - w.offset, next - w.offset),
    });
    pos = next;
  }
  return out;
}

class SimHandle implements FileHandle {
  constructor(
    private readonly fs: SimFileLayer,
    private readonly fd: number,
    readonly path: string,
  ) {}
  read(position: number, length: number): Promise<Uint8Array> {
    return this.fs.readAt(this.fd, this.path, position, length);
  }
  write(data: Uint8Array, position: number): Promise<void> {
    assert(Number.isSafeInteger(position) && position >= 0, `write position ${position}`);
    // Copy now: the caller may reuse its buffer once write() returns, as with fs.
    const owned = Uint8Array.from(data);
    return this.fs.mutate({ kind: 'write', fd: this.fd, offset: position, data: owned }, this.path);
  }
  datasync(): Promise<void> {
    return this.fs.mutate({ kind: 'datasync', fd: this.fd }, this.path);
  }
  sync(): Promise<void> {
    return this.fs.mutate({ kind: 'sync', fd: this.fd }, this.path);
  }
  truncate(sizeBytes: number): Promise<void> {
    return this.fs.mutate({ kind: 'truncate', fd: this.fd, size: sizeBytes }, this.path);
  }
  size(): Promise<number> {
    return this.fs.sizeOf(this.fd, this.path);
  }
  close(): Promise<void> {
    return this.fs.mutate({ kind: 'close', fd: this.fd }, this.path);
  }
}
