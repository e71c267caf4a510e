/**
 * A small port of cockroachdb/datadriven for the golden interaction tests: a file is
 * a sequence of blocks `command args\n----\nexpected output\n` separated by blank
 * lines; lines starting with '#' between blocks are comments. `run` executes every
 * command and returns the file as it would be with the actual outputs, so the test
 * compares texts exactly and REWRITE=1 writes the actual text back.
 */
export interface Command {
  readonly name: string;
  readonly args: readonly string[];
  /** key=value arguments; a value in parentheses is a list: voters=(1,2,3). */
  readonly kv: ReadonlyMap<string, string>;
  readonly line: string;
}

type Item = { kind: 'text'; text: string } | { kind: 'cmd'; cmd: Command; expected: string };

export function parseCommand(line: string): Command {
  const tokens = line.trim().match(/\S+=\([^)]*\)|\S+/g) ?? [];
  const [name = '', ...rest] = tokens;
  const args: string[] = [];
  const kv = new Map<string, string>();
  for (const t of rest) {
    const eq = t.indexOf('=');
    if (eq > 0) kv.set(t.slice(0, eq), t.slice(eq + 1));
    else args.push(t);
  }
  return { name, args, kv, line: line.trim() };
}

function parse(text: string): Item[] {
  const lines = text.split('\n');
  const items: Item[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    const next = lines[i + 1];
    if (line.trim() !== '' && !line.startsWith('#') && next === '----') {
      const out: string[] = [];
      i += 2;
      while (i < lines.length && (lines[i] ?? '') !== '') out.push(lines[i++] ?? '');
      items.push({ kind: 'cmd', cmd: parseCommand(line), expected: out.join('\n') });
    } else {
      items.push({ kind: 'text', text: line });
      i++;
    }
  }
  return items;
}

/** Run every command; returns the file text with actual outputs in place of expected. */
export function runDataDriven(text: string, exec: (cmd: Command) => string): string {
  const out: string[] = [];
  for (const item of parse(text)) {
    if (item.kind === 'text') {
      out.push(item.text);
      continue;
    }
    let actual: string;
    try {
      actual = exec(item.cmd);
    } catch (err) {
      actual = `error: ${err instanceof Error ? err.message : String(err)}`;
    }
    actual = actual.replace(/\n+$/, '');
    if (actual === '') actual = 'ok';
    // No blank line inside an output: it would end the block.
    actual = actual.replace(/\n\s*\n/g, '\n');
    out.push(item.cmd.line, '----', actual);
  }
  return out.join('\n');
}

export function listArg(v: string | undefined): bigint[] {
  if (v === undefined) return [];
  const inner = v.replace(/^\(/, '').replace(/\)$/, '').trim();
  if (inner === '') return [];
  return inner.split(/[,\s]+/).map((x) => BigInt(x));
}
