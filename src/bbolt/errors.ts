/**
 * Typed errors of the bbolt module. A reader meeting bytes that are not a usable bbolt
 * file throws BboltFormatError naming the problem and, where known, the page id and
 * byte offset; a writer fed input it cannot lay out (unsorted keys, an oversized key,
 * a source that changed between the planning and the writing pass) throws
 * BboltWriteError. Neither is ever thrown for an I/O failure of the injected source or
 * sink: those propagate as they are.
 */

export interface BboltLocation {
  readonly page?: number | undefined;
  readonly offset?: number | undefined;
}

export class BboltFormatError extends Error {
  override readonly name = 'BboltFormatError';
  readonly page: number | undefined;
  readonly offset: number | undefined;
  constructor(problem: string, where: BboltLocation = {}) {
    const at = [
      where.page !== undefined ? `page ${where.page}` : undefined,
      where.offset !== undefined ? `offset ${where.offset}` : undefined,
    ].filter((s) => s !== undefined);
    super(at.length > 0 ? `bbolt: ${problem} (${at.join(', ')})` : `bbolt: ${problem}`);
    this.page = where.page;
    this.offset = where.offset;
  }
}

export class BboltWriteError extends Error {
  override readonly name = 'BboltWriteError';
  constructor(problem: string) {
    super(`bbolt writer: ${problem}`);
  }
}
