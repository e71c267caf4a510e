/**
 * A JSON reader that behaves as Go's encoding/json Decoder does for the gateway
 * (grpc-gateway's JSONPb decoder reads the request body with json.Decoder): values
 * one after another from a byte stream, numbers kept as their text (an int64 of 19
 * digits must not pass through a double), and Go's exact syntax error messages
 * ("invalid character 'b' looking for beginning of object key string",
 * "unexpected EOF"), which the gateway returns to the client (docs/architecture.md §1).
 *
 * Contract: `readValue(text, pos)` skips white space, then returns the value that
 * starts there and the offset after it; `end` when only white space is left (Go's
 * io.EOF); `incomplete` when the text ends inside a value (more bytes may come; at
 * the end of the body that is Go's "unexpected EOF"); `error` with Go's message for
 * a syntax error.
 */

export type JsonValue =
  | { readonly t: 'object'; readonly entries: ReadonlyArray<readonly [string, JsonValue]> }
  | { readonly t: 'array'; readonly items: readonly JsonValue[] }
  | { readonly t: 'string'; readonly v: string }
  | { readonly t: 'number'; readonly raw: string }
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'null' };

export type ReadResult =
  | { readonly kind: 'value'; readonly value: JsonValue; readonly end: number }
  | { readonly kind: 'end' }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'error'; readonly message: string };

class Incomplete extends Error {}
class SyntaxErr extends Error {}

/** Go's quoteChar (encoding/json scanner.go). */
export function quoteChar(c: string): string {
  if (c === "'") return "'\\''";
  if (c === '"') return '\'"\'';
  const code = c.charCodeAt(0);
  if (code >= 0x20 && code < 0x7f) return `'${c}'`;
  const short: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f', '\v': '\\v', '\x07': '\\a' };
  const s = short[c];
  if (s !== undefined) return `'${s}'`;
  if (code < 0x100) return `'\\x${code.toString(16).padStart(2, '0')}'`;
  return `'${c}'`;
}

const WS = new Set([' ', '\t', '\n', '\r']);

class Reader {
  pos: number;
  constructor(
    private readonly s: string,
    start: number,
  ) {
    this.pos = start;
  }

  private fail(c: string, context: string): never {
    throw new SyntaxErr(`invalid character ${quoteChar(c)} ${context}`);
  }

  private peek(): string {
    if (this.pos >= this.s.length) throw new Incomplete();
    return this.s[this.pos] ?? '';
  }

  skipWs(): void {
    while (this.pos < this.s.length && WS.has(this.s[this.pos] ?? '')) this.pos++;
  }

  atEnd(): boolean {
    return this.pos >= this.s.length;
  }

  value(context = 'looking for beginning of value'): JsonValue {
    this.skipWs();
    const c = this.peek();
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return { t: 'string', v: this.string() };
    if (c === '-' || (c >= '0' && c <= '9')) return { t: 'number', raw: this.number() };
    if (c === 't') return this.literal('true', { t: 'bool', v: true });
    if (c === 'f') return this.literal('false', { t: 'bool', v: false });
    if (c === 'n') return this.literal('null', { t: 'null' });
    return this.fail(c, context);
  }

  private object(): JsonValue {
    this.pos++;
    const entries: Array<readonly [string, JsonValue]> = [];
    this.skipWs();
    if (this.peek() === '}') {
      this.pos++;
      return { t: 'object', entries };
    }
    for (;;) {
      this.skipWs();
      const k = this.peek();
      if (k !== '"') this.fail(k, 'looking for beginning of object key string');
      const key = this.string();
      this.skipWs();
      const colon = this.peek();
      if (colon !== ':') this.fail(colon, 'after object key');
      this.pos++;
      entries.push([key, this.value()]);
      this.skipWs();
      const next = this.peek();
      this.pos++;
      if (next === '}') return { t: 'object', entries };
      if (next !== ',') this.fail(next, 'after object key:value pair');
    }
  }

  private array(): JsonValue {
    this.pos++;
    const items: JsonValue[] = [];
    this.skipWs();
    if (this.peek() === ']') {
      this.pos++;
      return { t: 'array', items };
    }
    for (;;) {
      items.push(this.value());
      this.skipWs();
      const next = this.peek();
      this.pos++;
      if (next === ']') return { t: 'array', items };
      if (next !== ',') this.fail(next, 'after array element');
    }
  }

  private string(): string {
    this.pos++;
    let out = '';
    for (;;) {
      const c = this.peek();
      this.pos++;
      if (c === '"') return out;
      if (c.charCodeAt(0) < 0x20) this.fail(c, 'in string literal');
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.peek();
      this.pos++;
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      const mapped = simple[e];
      if (mapped !== undefined) {
        out += mapped;
        continue;
      }
      if (e !== 'u') this.fail(e, 'in string escape code');
      let hex = '';
      for (let i = 0; i < 4; i++) {
        const h = this.peek();
        if (!/[0-9a-fA-F]/.test(h)) this.fail(h, 'in \\u hexadecimal character escape');
        hex += h;
        this.pos++;
      }
      out += String.fromCharCode(parseInt(hex, 16));
    }
  }

  private number(): string {
    const start = this.pos;
    if (this.peek() === '-') {
      this.pos++;
      const d = this.peek();
      if (!(d >= '0' && d <= '9')) this.fail(d, 'in numeric literal');
    }
    if (this.peek() === '0') this.pos++;
    else this.digits();
    if (this.more() && this.s[this.pos] === '.') {
      this.pos++;
      const d = this.peek();
      if (!(d >= '0' && d <= '9')) this.fail(d, 'after decimal point in numeric literal');
      this.digits();
    }
    if (this.more() && (this.s[this.pos] === 'e' || this.s[this.pos] === 'E')) {
      this.pos++;
      if (this.peek() === '+' || this.peek() === '-') this.pos++;
      const d = this.peek();
      if (!(d >= '0' && d <= '9')) this.fail(d, 'in exponent of numeric literal');
      this.digits();
    }
    // A number at the very end of the text may still grow; Go waits for a delimiter.
    if (!this.more()) throw new Incomplete();
    return this.s.slice(start, this.pos);
  }

  private more(): boolean {
    return this.pos < this.s.length;
  }

  private digits(): void {
    while (this.more() && (this.s[this.pos] ?? '') >= '0' && (this.s[this.pos] ?? '') <= '9') this.pos++;
  }

  private literal(word: string, value: JsonValue): JsonValue {
    for (let i = 0; i < word.length; i++) {
      const c = this.peek();
      if (c !== word[i]) this.fail(c, `in literal ${word} (expecting ${quoteChar(word[i] ?? '')})`);
      this.pos++;
    }
    return value;
  }
}

export function readValue(text: string, pos: number, final = true): ReadResult {
  const r = new Reader(text, pos);
  r.skipWs();
  if (r.atEnd()) return { kind: 'end' };
  try {
    const value = r.value();
    return { kind: 'value', value, end: r.pos };
  } catch (err) {
    if (err instanceof SyntaxErr) return { kind: 'error', message: err.message };
    if (err instanceof Incomplete) {
      // The whole body is here: a top-level number ends with the text (Go's Decoder
      // accepts it at EOF); anything else cut short is "unexpected EOF".
      if (final) {
        const n = /^\s*(-?\d+(\.\d+)?([eE][+-]?\d+)?)\s*$/.exec(text.slice(pos));
        if (n !== null) return { kind: 'value', value: { t: 'number', raw: n[1] ?? '' }, end: text.length };
        return { kind: 'error', message: 'unexpected EOF' };
      }
      return { kind: 'incomplete' };
    }
    throw err;
  }
}

/** A JSON value's kind as Go's UnmarshalTypeError names it ("cannot unmarshal array ..."). */
export function goKind(v: JsonValue): string {
  switch (v.t) {
    case 'object':
      return 'object';
    case 'array':
      return 'array';
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'bool':
      return 'bool';
    case 'null':
      return 'null';
  }
}

/**
 * A string as Go's encoding/json writes it: <, > and & as \u003c \u003e \u0026,
 * U+2028/2029 escaped, control characters as \u00XX except \n \r \t.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || ch === '<' || ch === '>' || ch === '&' || code === 0x2028 || code === 0x2029) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return `${out}"`;
}
