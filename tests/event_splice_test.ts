import assert from "node:assert/strict";
import { buildEvent, PayloadError } from "../lib/core/event.ts";
import { parsePublishPath } from "../lib/core/topics.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const target = parsePublishPath("/caf%C3%A9/b");

function line(body: string | Uint8Array): string {
  const ev = buildEvent(target, typeof body === "string" ? encoder.encode(body) : body);
  const text = decoder.decode(ev.line);
  assert.equal(text, ev.json + "\n");
  return text;
}

Deno.test("buildEvent() splices the envelope after the publisher's own bytes", () => {
  const body = '{"z": 1, "big": 12345678901234567890, "f": 1.50, "u": "ünï \\u00e9 🍎"}';
  const text = line(body);
  assert.ok(text.startsWith(body.slice(0, -1) + ',"pubsub_timestamp":'), text);
  const parsed = JSON.parse(text);
  assert.deepEqual(Object.keys(parsed), [
    "z",
    "big",
    "f",
    "u",
    "pubsub_timestamp",
    "pubsub_topics",
    "pubsub_path",
    "pubsub_cursor",
  ]);
  assert.deepEqual(parsed.pubsub_topics, ["café", "b"]);
  assert.equal(parsed.pubsub_path, "/café/b");
  assert.ok(text.endsWith('"}\n'));
});

Deno.test("buildEvent() drops line breaks between tokens and keeps everything else", () => {
  const text = line('\r\n{\r\n  "n": 12345678901234567890,\n  "a": [1.0,\n 2e3]\n}\n');
  assert.ok(text.startsWith('{  "n": 12345678901234567890,  "a": [1.0, 2e3],"pubsub_'), text);
  assert.equal(text.indexOf("\n"), text.length - 1);
  assert.equal(text.indexOf("\r"), -1);
});

Deno.test("buildEvent() of an empty object adds no comma", () => {
  assert.match(line(" { } "), /^\{ "pubsub_timestamp":\d+(\.\d+)?,"pubsub_topics":/);
  JSON.parse(line("{}"));
});

Deno.test("buildEvent() overwrites top-level envelope keys, however they are spelled", () => {
  for (const key of ["pubsub_cursor", "pubsub\\u005fcursor"]) {
    const text = line(`{"big": 12345678901234567890, "${key}": "mine", "k": {"pubsub_path": 1}}`);
    const parsed = JSON.parse(text);
    assert.notEqual(parsed.pubsub_cursor, "mine");
    assert.deepEqual(parsed.k, { pubsub_path: 1 }, "nested keys are the publisher's");
    assert.match(text, /"big":12345678901234567890,/, "numbers stay exact when re-serialised");
  }
});

Deno.test("buildEvent() keeps nested pubsub_ keys and values in the publisher's bytes", () => {
  const body = '{"k": {"pubsub_path": "x"},  "v": "pubsub_topics"}';
  assert.ok(line(body).startsWith(body.slice(0, -1) + ","));
});

Deno.test("buildEvent() skips a byte order mark, as a UTF-8 decoder does", () => {
  const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...encoder.encode('{"a":1}')]);
  assert.ok(line(bytes).startsWith('{"a":1,"pubsub_'));
});

Deno.test("buildEvent() gives the reason for each refused body", () => {
  const cases: [Uint8Array | string, RegExp][] = [
    [new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), /not valid UTF-8/],
    [new Uint8Array([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d]), /not valid UTF-8/],
    ['{"a": NaN}', /not valid JSON/],
    ['{"a": 1,}', /not valid JSON/],
    ["[1, 2]", /must be a JSON object \{\.\.\.\}, got an array/],
    ["12345678901234567890", /got number/],
    ['"s"', /got string/],
    ["null", /got null/],
    ["", /not valid JSON/],
  ];
  for (const [body, reason] of cases) {
    const bytes = typeof body === "string" ? encoder.encode(body) : body;
    assert.throws(() => buildEvent(target, bytes), (err: Error) => {
      assert.ok(err instanceof PayloadError, String(body));
      assert.match(err.message, reason, String(body));
      return true;
    });
  }
});

Deno.test("buildEvent() gives the same line for a body as bytes and as text", () => {
  const body = '{"a": [1, "é"], "b": {"c": null}}';
  const fromText = buildEvent(target, body, 1700000000000);
  const fromBytes = buildEvent(target, encoder.encode(body), 1700000000000);
  const strip = (json: string) => json.replace(/"pubsub_cursor":"[^"]+"/, "");
  assert.equal(strip(fromText.json), strip(fromBytes.json));
});
