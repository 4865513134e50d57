/**
 * Checks that a published body is exactly one JSON object, in UTF-8, by reading its bytes
 * once: no string is decoded and no value is built, so a publish costs no parse and no
 * garbage. The answer says where the object's braces are, so the server can splice its
 * envelope into the publisher's own bytes.
 *
 * @module
 */

/** Where a body's object sits, and what the envelope splice must know about it. */
export interface ObjectShape {
  /** Index of the opening `{`. */
  readonly open: number;
  /** Index of the closing `}`. */
  readonly close: number;
  /** The object has no members. */
  readonly empty: boolean;
  /** CR or LF bytes occur (outside strings, so only as whitespace between tokens). */
  readonly lineBreaks: boolean;
  /**
   * A top-level key starts with `pubsub_`, or is written with an escape (and so might
   * spell one): the server's fields may be in the body and must be overwritten.
   */
  readonly envelopeKey: boolean;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LF = 0x0a;
const CR = 0x0d;
const PREFIX = [...new TextEncoder().encode("pubsub_")];
const TRUE = [...new TextEncoder().encode("true")];
const FALSE = [...new TextEncoder().encode("false")];
const NULL = [...new TextEncoder().encode("null")];
/** The bytes of a UTF-8 byte order mark, which decoders skip. */
const BOM = [0xef, 0xbb, 0xbf];

/** 1 for the bytes a string holds as they are: ASCII but controls, `"` and `\\`. */
const PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 0x80; c++) PLAIN[c] = c === QUOTE || c === BACKSLASH ? 0 : 1;

/** What the scanner expects next. */
const KEY_OR_END = 0;
const KEY = 1;
const COLON_NEXT = 2;
const VALUE = 3;
const VALUE_OR_END = 4;
const COMMA_OR_END = 5;

/**
 * A single-pass reader of one body. Fields rather than locals, so that the helpers for
 * strings, numbers and literals can advance the position without returning pairs; one
 * instance serves every scan, which runs to its end without yielding.
 */
const NOTHING = new Uint8Array(0);

class Scanner {
  bytes: Uint8Array = NOTHING;
  at = 0;
  lineBreaks = false;
  /** The string just read held a backslash escape. */
  escaped = false;

  /** Starts reading `bytes`. */
  reset(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.at = 0;
    this.lineBreaks = false;
    this.escaped = false;
  }

  /** Skips JSON whitespace; returns the next byte, or -1 at the end. */
  next(): number {
    const b = this.bytes;
    while (this.at < b.length) {
      const c = b[this.at]!;
      if (c === 0x20 || c === 0x09) this.at++;
      else if (c === LF || c === CR) {
        this.lineBreaks = true;
        this.at++;
      } else return c;
    }
    return -1;
  }

  /**
   * Reads a string whose opening quote is at `at`; leaves `at` after the closing quote.
   * False when it is not valid JSON or not valid UTF-8.
   */
  string(): boolean {
    const b = this.bytes;
    let i = this.at + 1;
    this.escaped = false;
    while (i < b.length) {
      // Most bytes of most strings need no look: one table read each.
      while (PLAIN[b[i]!] === 1) i++;
      const c = b[i]!;
      if (c === QUOTE) {
        this.at = i + 1;
        return true;
      }
      if (c === BACKSLASH) {
        this.escaped = true;
        const e = b[i + 1];
        if (e === 0x75) {
          for (let k = i + 2; k < i + 6; k++) if (!isHex(b[k])) return false;
          i += 6;
        } else if (
          e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 ||
          e === 0x6e || e === 0x72 || e === 0x74
        ) {
          i += 2;
        } else return false;
      } else if (c < 0x20) {
        return false;
      } else if (c < 0x80) {
        i++;
      } else {
        const n = utf8Sequence(b, i);
        if (n === 0) return false;
        i += n;
      }
    }
    return false;
  }

  /** Reads a number starting at `at`; false when it is not JSON's number grammar. */
  number(): boolean {
    const b = this.bytes;
    let i = this.at;
    if (b[i] === MINUS) i++;
    if (b[i] === ZERO) i++;
    else if (isDigit(b[i])) { while (isDigit(b[i])) i++; }
    else return false;
    if (b[i] === DOT) {
      if (!isDigit(b[++i])) return false;
      while (isDigit(b[i])) i++;
    }
    if (b[i] === 0x65 || b[i] === 0x45) {
      i++;
      if (b[i] === PLUS || b[i] === MINUS) i++;
      if (!isDigit(b[i])) return false;
      while (isDigit(b[i])) i++;
    }
    this.at = i;
    return true;
  }

  /** Reads `word` (true, false, null) at `at`. */
  literal(word: readonly number[]): boolean {
    if (!startsWith(this.bytes, this.at, word)) return false;
    this.at += word.length;
    return true;
  }

  /** Reads a scalar value at `at` whose first byte is `c`. */
  scalar(c: number): boolean {
    if (c === QUOTE) return this.string();
    if (c === MINUS || isDigit(c)) return this.number();
    if (c === 0x74) return this.literal(TRUE);
    if (c === 0x66) return this.literal(FALSE);
    if (c === 0x6e) return this.literal(NULL);
    return false;
  }
}

const scanner = new Scanner();
/** Open containers, innermost last: true for an object, false for an array. */
const containers: boolean[] = [];

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= ZERO && c <= NINE;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined &&
    ((c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

function startsWith(b: Uint8Array, at: number, word: readonly number[]): boolean {
  for (let k = 0; k < word.length; k++) if (b[at + k] !== word[k]) return false;
  return true;
}

function isContinuation(c: number | undefined): boolean {
  return c !== undefined && (c & 0xc0) === 0x80;
}

/**
 * The length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF) starting with the byte at `i`, which is 0x80 or
 * above; 0 when it is not one.
 */
function utf8Sequence(b: Uint8Array, i: number): number {
  const c = b[i]!;
  const c1 = b[i + 1];
  if (c >= 0xc2 && c <= 0xdf) return isContinuation(c1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!isContinuation(c1) || !isContinuation(b[i + 2])) return 0;
    if (c === 0xe0 && c1! < 0xa0) return 0;
    if (c === 0xed && c1! > 0x9f) return 0;
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!isContinuation(c1) || !isContinuation(b[i + 2]) || !isContinuation(b[i + 3])) return 0;
    if (c === 0xf0 && c1! < 0x90) return 0;
    if (c === 0xf4 && c1! > 0x8f) return 0;
    return 4;
  }
  return 0;
}

/**
 * Where the one JSON object in `bytes` is, or null when `bytes` is anything else: not
 * valid UTF-8, not valid JSON (RFC 8259: no `NaN`, no trailing commas, no comments), or
 * a JSON value that is not an object. The caller then decodes and parses the body the
 * ordinary way, which gives the reason. A leading byte order mark is skipped, as UTF-8
 * decoders do.
 *
 * @example
 * ```ts
 * import { scanObject } from "./json_scan.ts";
 * const bytes = new TextEncoder().encode(' {"n": 12345678901234567890}\n');
 * const shape = scanObject(bytes)!;
 * console.assert(shape.open === 1 && shape.close === 28 && shape.lineBreaks);
 * console.assert(scanObject(new TextEncoder().encode("[1]")) === null);
 * ```
 */
export function scanObject(bytes: Uint8Array): ObjectShape | null {
  scanner.reset(bytes);
  try {
    return scan(scanner);
  } finally {
    // Not kept until the next body comes.
    scanner.reset(NOTHING);
  }
}

function scan(s: Scanner): ObjectShape | null {
  const bytes = s.bytes;
  if (startsWith(bytes, 0, BOM)) s.at = BOM.length;
  if (s.next() !== OPEN_BRACE) return null;
  const open = s.at++;
  let close = -1;
  let empty = true;
  let envelopeKey = false;
  let expect = KEY_OR_END;
  containers.length = 0;
  containers.push(true);
  while (containers.length > 0) {
    const c = s.next();
    if (c < 0) return null;
    if (expect === COMMA_OR_END) {
      const inObject = containers[containers.length - 1]!;
      if (c === COMMA) {
        s.at++;
        expect = inObject ? KEY : VALUE;
      } else if (c === (inObject ? CLOSE_BRACE : CLOSE_BRACKET)) {
        if (containers.length === 1) close = s.at;
        containers.pop();
        s.at++;
      } else return null;
    } else if (expect === KEY || expect === KEY_OR_END) {
      if (c === CLOSE_BRACE && expect === KEY_OR_END) {
        if (containers.length === 1) close = s.at;
        containers.pop();
        s.at++;
        expect = COMMA_OR_END;
        continue;
      }
      if (c !== QUOTE) return null;
      const top = containers.length === 1;
      if (top) empty = false;
      const key = s.at + 1;
      if (!s.string()) return null;
      if (top && (s.escaped || startsWith(bytes, key, PREFIX))) envelopeKey = true;
      expect = COLON_NEXT;
    } else if (expect === COLON_NEXT) {
      if (c !== COLON) return null;
      s.at++;
      expect = VALUE;
    } else {
      if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        containers.push(c === OPEN_BRACE);
        s.at++;
        expect = c === OPEN_BRACE ? KEY_OR_END : VALUE_OR_END;
        continue;
      }
      if (c === CLOSE_BRACKET && expect === VALUE_OR_END) {
        containers.pop();
        s.at++;
        expect = COMMA_OR_END;
        continue;
      }
      if (!s.scalar(c)) return null;
      expect = COMMA_OR_END;
    }
  }
  if (s.next() !== -1) return null;
  return { open, close, empty, lineBreaks: s.lineBreaks, envelopeKey };
}
