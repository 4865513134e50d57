import { deepEqual, equal } from "node:assert/strict";
import { findTimestamp, StreamDecoder } from "./stream_decoder.ts";

const encoder = new TextEncoder();

interface Seen {
  status: number;
  times: number[];
  other: number;
}

function decoder(): { d: StreamDecoder; seen: Seen } {
  const seen: Seen = { status: 0, times: [], other: 0 };
  const d = new StreamDecoder({
    head: (status) => seen.status = status,
    event: (t) => seen.times.push(t),
    other: () => seen.other++,
  });
  return { d, seen };
}

function chunked(...lines: string[]): string {
  const head = "HTTP/1.1 200 OK\r\nContent-Type: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  return head + lines.map((l) => `${encoder.encode(l).length.toString(16)}\r\n${l}\r\n`).join("");
}

Deno.test("StreamDecoder finds the timestamp of every line in a chunked stream", () => {
  const { d, seen } = decoder();
  d.push(encoder.encode(chunked('{"t":1.5,"seq":0}\n', '{"t":2,"x":"y"}\n')), 0);
  equal(seen.status, 200);
  deepEqual(seen.times, [1.5, 2]);
});

Deno.test("StreamDecoder gives the same result whatever the read boundaries", () => {
  const wire = encoder.encode(
    chunked('{"t":1700000000000.125,"seq":1,"pad":"xx"}\n', '{"stillalive": 1.0}\n', '{"t":3}\n'),
  );
  for (let size = 1; size <= wire.length; size++) {
    const { d, seen } = decoder();
    for (let i = 0; i < wire.length; i += size) d.push(wire.slice(i, i + size), 0);
    deepEqual(seen.times, [1700000000000.125, 3], `reads of ${size} bytes`);
    equal(seen.other, 1, `reads of ${size} bytes`);
  }
});

Deno.test("StreamDecoder joins a line split over two chunks", () => {
  const { d, seen } = decoder();
  d.push(encoder.encode(chunked('{"t":4', '2.5,"a":1}\n')), 0);
  deepEqual(seen.times, [42.5]);
});

Deno.test("StreamDecoder reads a stream without chunked encoding until it closes", () => {
  const { d, seen } = decoder();
  d.push(encoder.encode('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"t":7}\n{"t":8}\n'), 0);
  deepEqual(seen.times, [7, 8]);
});

Deno.test("StreamDecoder skips chunk extensions and the NUL after old-school lines", () => {
  const { d, seen } = decoder();
  const body = '{"t":5}\n\0';
  const wire = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n` +
    `${body.length.toString(16)};ext=1\r\n${body}\r\n`;
  d.push(encoder.encode(wire), 0);
  deepEqual(seen.times, [5]);
  equal(seen.other, 0);
});

Deno.test("StreamDecoder reports the status of a refused subscription", () => {
  const { d, seen } = decoder();
  d.push(encoder.encode("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"), 0);
  equal(seen.status, 403);
});

Deno.test("StreamDecoder ends at the zero-size chunk", () => {
  const { d } = decoder();
  d.push(encoder.encode(chunked('{"t":1}\n') + "0\r\n\r\n"), 0);
  equal(d.done, true);
});

Deno.test("findTimestamp finds t after envelope fields and ignores lines without it", () => {
  const line = encoder.encode('{"pubsub_topics":["a"],"t":12.25,"seq":1}');
  equal(findTimestamp(line, 0, line.length), 12.25);
  const none = encoder.encode('{"stillalive": 1700000000.5}');
  equal(Number.isNaN(findTimestamp(none, 0, none.length)), true);
});
