import assert from "node:assert/strict";
import { scanObject } from "../lib/core/json_scan.ts";

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** What V8 says: the bytes are UTF-8 holding exactly one JSON object. */
function isOneObject(bytes: Uint8Array): boolean {
  try {
    const value = JSON.parse(utf8.decode(bytes));
    return value !== null && typeof value === "object" && !Array.isArray(value);
  } catch {
    return false;
  }
}

function agrees(bytes: Uint8Array): void {
  const label = JSON.stringify(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
  assert.equal(scanObject(bytes) !== null, isOneObject(bytes), label);
}

// A fixed generator, so a failure replays.
let seed = 12345;
function random(n: number): number {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed % n;
}

const VALID = [
  "{}",
  " { } ",
  '{"a":1}',
  '{"a": -0.5e+10, "b": [true, false, null], "c": {"d": []}}',
  '{"big": 12345678901234567890, "f": 1.0, "e": 2E-3, "z": 0}',
  '{"s": "é\\u00e9\\n\\t\\"\\\\\\/ 🍎 \\ud83c\\udf4e \u2028"}',
  '{"": "", "k": "\\u0000"}',
  '{\r\n  "pretty": [\r\n    1,\n    2\n  ]\n}\n',
  '{"nested": {"pubsub_topics": 1}, "x": "pubsub_path"}',
  '{"a":[[[[[[{"b":[{}]}]]]]]]}',
];

const INVALID = [
  "",
  " ",
  "[1]",
  '"s"',
  "1",
  "null",
  "{",
  "}",
  "{} {}",
  "{}x",
  '{"a":1,}',
  '{"a" 1}',
  "{a:1}",
  "{'a':1}",
  '{"a":NaN}',
  '{"a":Infinity}',
  '{"a":-Infinity}',
  '{"a":01}',
  '{"a":1.}',
  '{"a":.5}',
  '{"a":1e}',
  '{"a":+1}',
  '{"a":-}',
  '{"a":tru}',
  '{"a":nul}',
  '{"a":[1,]}',
  '{"a":[1 2]}',
  '{"a":"\\x"}',
  '{"a":"\\u12"}',
  '{"a":"\\u12g4"}',
  '{"a":"tab\there"}',
  '{"a":"line\nbreak"}',
  '{"a":1}/* comment */',
  '{"a":[}',
  '{"a":{]}',
  '{"a":1]',
];

Deno.test("scanObject() accepts JSON objects and finds their braces", () => {
  for (const text of VALID) {
    const bytes = encoder.encode(text);
    const shape = scanObject(bytes);
    assert.ok(shape, text);
    assert.equal(bytes[shape.open], 0x7b, text);
    assert.equal(bytes[shape.close], 0x7d, text);
    assert.equal(text.slice(shape.close + 1).trim(), "", text);
    agrees(bytes);
  }
});

Deno.test("scanObject() refuses what JSON.parse refuses, and every value but an object", () => {
  for (const text of INVALID) {
    assert.equal(scanObject(encoder.encode(text)), null, text);
    agrees(encoder.encode(text));
  }
});

Deno.test("scanObject() reports empty objects, line breaks and top-level pubsub_ keys", () => {
  const shape = (text: string) => scanObject(encoder.encode(text))!;
  assert.equal(shape("{ }").empty, true);
  assert.equal(shape('{"a":{}}').empty, false);
  assert.equal(shape('{"a":1}').lineBreaks, false);
  assert.equal(shape('{"a":\n1}').lineBreaks, true);
  assert.equal(shape('{"a":\r1}').lineBreaks, true);
  assert.equal(shape('{"pubsub_cursor":"x"}').envelopeKey, true);
  assert.equal(shape('{"a":1,"pubsub_other":2}').envelopeKey, true);
  assert.equal(shape('{"pubsub\\u005ftopics":1}').envelopeKey, true, "an escaped key");
  assert.equal(shape('{"a":{"pubsub_topics":1}}').envelopeKey, false, "nested");
  assert.equal(shape('{"a":"pubsub_topics"}').envelopeKey, false, "a value");
  assert.equal(shape('{"pubsub":1}').envelopeKey, false);
});

Deno.test("scanObject() checks UTF-8 as a fatal decoder does, and skips a byte order mark", () => {
  const wrap = (...inner: number[]) =>
    new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, ...inner, 0x22, 0x7d]);
  const cases: [number[], boolean][] = [
    [[0xc3, 0xa9], true], // é
    [[0xe2, 0x82, 0xac], true], // €
    [[0xf0, 0x9f, 0x8d, 0x8e], true], // 🍎
    [[0xef, 0xbf, 0xbf], true], // U+FFFF
    [[0xf4, 0x8f, 0xbf, 0xbf], true], // U+10FFFF
    [[0xff], false],
    [[0xc3], false], // truncated
    [[0xc0, 0xaf], false], // overlong
    [[0xe0, 0x80, 0xaf], false], // overlong
    [[0xf0, 0x80, 0x80, 0xaf], false], // overlong
    [[0xed, 0xa0, 0x80], false], // a surrogate
    [[0xf4, 0x90, 0x80, 0x80], false], // past U+10FFFF
    [[0x80], false], // a lone continuation
  ];
  for (const [inner, valid] of cases) {
    const bytes = wrap(...inner);
    assert.equal(scanObject(bytes) !== null, valid, inner.map((b) => b.toString(16)).join(" "));
    agrees(bytes);
  }
  const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...encoder.encode('{"a":1}')]);
  assert.equal(scanObject(bom)?.open, 3);
  assert.equal(scanObject(new Uint8Array([0xff, ...encoder.encode("{}")])), null);
});

Deno.test("scanObject() agrees with JSON.parse on 20,000 damaged bodies", () => {
  const alphabet = encoder.encode('{}[]":,\\ \n0123456789.-+eEtrufalsn\u00e9x');
  for (let n = 0; n < 20_000; n++) {
    const base = encoder.encode(VALID[random(VALID.length)]!);
    const bytes = new Uint8Array(base);
    for (let k = 1 + random(2); k > 0; k--) {
      const at = random(bytes.length);
      const kind = random(3);
      if (kind === 0) bytes[at] = alphabet[random(alphabet.length)]!;
      else if (kind === 1) bytes[at] = random(256);
      else bytes.copyWithin(at, at + 1);
    }
    agrees(bytes.subarray(0, bytes.length - random(2)));
  }
});

Deno.test("scanObject() handles deep nesting without recursion", () => {
  const depth = 50_000;
  const text = '{"a":' + "[".repeat(depth) + "]".repeat(depth) + "}";
  assert.ok(scanObject(encoder.encode(text)));
  assert.equal(scanObject(encoder.encode('{"a":' + "[".repeat(depth) + "}")), null);
});
