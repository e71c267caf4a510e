/**
 * etcdctl's table output (-w table, olekukonko/tablewriter) read back into cells, and
 * masked so that two clusters' tables (tsetcd's and a real etcd's) compare with
 * deep equality: what must be the same is the frame, the header, the row count, the
 * column order and every value that does not legitimately differ between two clusters
 * (leader/learner flags, status, names, URLs up to the port).
 *
 * Contract: parseTable() returns the header cells and the row cells (trimmed), and
 * throws when the text is not a well-formed table (border lines, equal cell counts).
 */

export interface Table {
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
  /** The border line above the header, e.g. +-----+----+ (column widths differ per run). */
  readonly borderShape: string;
}

function cellsOf(line: string): string[] {
  const inner = line.trim();
  if (!inner.startsWith('|') || !inner.endsWith('|')) throw new Error(`not a table row: ${line}`);
  return inner
    .slice(1, -1)
    .split('|')
    .map((c) => c.trim());
}

export function parseTable(text: string): Table {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const borders = lines.filter((l) => l.startsWith('+'));
  const rows = lines.filter((l) => l.startsWith('|'));
  if (lines.length !== borders.length + rows.length) throw new Error(`stray lines in:\n${text}`);
  // tablewriter: border, header, border, rows..., border
  if (borders.length !== 3 || rows.length < 1 || !lines[0]?.startsWith('+')) {
    throw new Error(`unexpected table layout:\n${text}`);
  }
  const [headerLine, ...bodyLines] = rows;
  const header = cellsOf(headerLine ?? '');
  const body = bodyLines.map(cellsOf);
  for (const r of body) {
    if (r.length !== header.length) throw new Error(`row with ${r.length} cells:\n${text}`);
  }
  const borderShape = (lines[0] ?? '').replace(/-+/g, '-');
  return { header, rows: body, borderShape };
}

/** URLs of 127.0.0.1 with the port replaced by the index of the member it belongs to. */
export function maskPorts(text: string, portToMember: ReadonlyMap<number, string>): string {
  return text.replace(/(https?):\/\/127\.0\.0\.1:(\d+)/g, (_all, scheme: string, port: string) => {
    const who = portToMember.get(Number(port)) ?? `?${port}`;
    return `${scheme}://127.0.0.1:<${who}>`;
  });
}
