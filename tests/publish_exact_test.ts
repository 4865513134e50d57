import assert from "node:assert/strict";
import { engineTest, publish, StreamClient } from "./helpers.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Publishes raw bytes; returns the status and the one-line reason. */
async function publishBytes(
  url: string,
  body: Uint8Array<ArrayBuffer>,
): Promise<[number, string]> {
  const res = await fetch(url, { method: "POST", body });
  return [res.status, (await res.text()).trim()];
}

engineTest("a publisher's bytes reach subscribers as sent, the envelope after them", async (t) => {
  const srv = await t.start();
  try {
    const sub = await StreamClient.open(`${srv.url}/exact`);
    const body =
      '{"z": 1, "big": 12345678901234567890, "f": 1.50, "e": -0.0e-0, "u": "é\\u00e9 🍎"}';
    assert.equal(await publish(`${srv.url}/exact/x`, body), 202);
    const line = decoder.decode(await sub.nextRaw());
    assert.ok(line.startsWith(body.slice(0, -1) + ',"pubsub_timestamp":'), line);
    const parsed = JSON.parse(line);
    assert.deepEqual(Object.keys(parsed).slice(-4), [
      "pubsub_timestamp",
      "pubsub_topics",
      "pubsub_path",
      "pubsub_cursor",
    ]);
    assert.deepEqual(parsed.pubsub_topics, ["exact", "x"]);
    await sub.close();
  } finally {
    await srv.close();
  }
});

engineTest(
  "a pretty-printed body arrives on one line with only its line breaks gone",
  async (t) => {
    const srv = await t.start();
    try {
      const sub = await StreamClient.open(`${srv.url}/exact`);
      const body = '{\r\n  "big": 12345678901234567890,\n  "list": [1.0,\n    2e3]\n}\n';
      assert.equal(await publish(`${srv.url}/exact`, body), 202);
      const line = decoder.decode(await sub.nextRaw());
      assert.ok(line.startsWith('{  "big": 12345678901234567890,  "list": [1.0,    2e3],'), line);
      assert.equal(line.indexOf("\n"), line.length - 1);
      await sub.close();
    } finally {
      await srv.close();
    }
  },
);

engineTest("pubsub_ fields a publisher sends are overwritten, numbers still exact", async (t) => {
  const srv = await t.start();
  try {
    const sub = await StreamClient.open(`${srv.url}/exact`);
    const body = '{"pubsub_path": "/forged", "pubsub_cursor": "x", "big": 12345678901234567890, ' +
      '"inner": {"pubsub_topics": ["kept"]}}';
    assert.equal(await publish(`${srv.url}/exact`, body), 202);
    const line = decoder.decode(await sub.nextRaw());
    const parsed = JSON.parse(line);
    assert.equal(parsed.pubsub_path, "/exact");
    assert.match(parsed.pubsub_cursor, /^[0-9a-f]{8}-/);
    assert.deepEqual(parsed.inner, { pubsub_topics: ["kept"] });
    assert.match(line, /"big":12345678901234567890/);
    await sub.close();
  } finally {
    await srv.close();
  }
});

engineTest(
  "bodies that are not one JSON object in UTF-8 are refused and never delivered",
  async (t) => {
    const srv = await t.start({ server: { max_payload_size: 200 } });
    try {
      const sub = await StreamClient.open(`${srv.url}/exact`);
      const quoted = (...bytes: number[]) =>
        new Uint8Array([...encoder.encode('{"a": "'), ...bytes, ...encoder.encode('"}')]);
      const cases: [Uint8Array<ArrayBuffer>, number, RegExp][] = [
        [quoted(0xff), 400, /not valid UTF-8/],
        [quoted(0xc0, 0xaf), 400, /not valid UTF-8/],
        [quoted(0xed, 0xa0, 0x80), 400, /not valid UTF-8/],
        [encoder.encode('{"a": NaN}'), 400, /not valid JSON/],
        [encoder.encode('{"a": 1,}'), 400, /not valid JSON/],
        [encoder.encode('{"a": "raw\nline"}'), 400, /not valid JSON/],
        [encoder.encode("[1]"), 400, /must be a JSON object/],
        [encoder.encode(`{"pad": "${"x".repeat(200)}"}`), 413, /larger than the limit of 200/],
      ];
      for (const [body, status, reason] of cases) {
        const [got, text] = await publishBytes(`${srv.url}/exact`, body);
        assert.equal(got, status, text);
        assert.match(text, reason);
      }
      await sub.expectSilence();
      await sub.close();
    } finally {
      await srv.close();
    }
  },
);
