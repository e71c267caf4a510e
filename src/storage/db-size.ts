/**
 * The state db's size on disk for Status, metrics and the space quota
 * (docs/architecture.md §3), kept apart from member-storage.ts.
 */
import { join } from 'node:path';
import type { FileLayer } from './file-layer.js';
import type { BackendBatch } from './backend.js';

/**
 * The state db's size on disk: measured by listing its files (a readdir and a stat per
 * file, too dear for every request), estimated in between as the last measurement plus
 * what was written since, plus LevelDB's per-record overhead. A write re-measures in
 * the background once more than 1/64 of the db (at least 64 KiB) was written since.
 * LevelDB's own compactions only shrink the files, so the estimate errs high.
 */
export class DbSizeMeter {
  private measured = 1;
  private writtenSince = 0;
  private inFlight: Promise<number> | undefined;

  constructor(
    private readonly fs: FileLayer,
    private readonly dir: string,
  ) {}

  estimate(): number {
    return this.measured + this.writtenSince;
  }

  wrote(batch: BackendBatch): void {
    this.writtenSince += batch.byteLength + LEVEL_RECORD_OVERHEAD * batch.length;
    if (this.inFlight === undefined && this.writtenSince > Math.max(64 * 1024, this.measured / 64)) {
      void this.measure().catch(() => undefined);
    }
  }

  measure(): Promise<number> {
    if (this.inFlight !== undefined) return this.inFlight;
    const counted = this.writtenSince;
    const p = (async (): Promise<number> => {
      try {
        let total = 0;
        // A test backend may keep no files in the directory at all.
        const names = (await this.fs.exists(this.dir)) ? await this.fs.readdir(this.dir) : [];
        for (const name of names) {
          try {
            total += await this.fs.statSize(join(this.dir, name));
          } catch {
            /* a file LevelDB removed meanwhile */
          }
        }
        this.measured = Math.max(total, 1);
        this.writtenSince = Math.max(0, this.writtenSince - counted);
        return this.measured;
      } finally {
        this.inFlight = undefined;
      }
    })();
    this.inFlight = p;
    return p;
  }
}

/** LevelDB's log adds a tag and two length varints per record (db/write_batch.cc). */
const LEVEL_RECORD_OVERHEAD = 5;
