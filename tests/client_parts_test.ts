/**
 * The client's parts on their own: line splitting, backoff, `Retry-After`, the resume
 * point, the cursor file and the command-line parsers.
 */

import assert from "node:assert/strict";
import { Backoff, retryAfterMs } from "../client/backoff.ts";
import { LineReader } from "../client/lines.ts";
import { Position } from "../client/position.ts";
import { parsePubArgs, parseSubArgs, UsageError } from "../client/cli/args.ts";
import { CursorFile } from "../client/cli/cursor_file.ts";

const CURSOR = "01a21e48-d63f-7000-82ea-c42733d4c408";

/** A body that delivers `chunks` as separate reads. */
function body(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) {
        controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
      }
      controller.close();
    },
  });
}

async function readAll(reader: LineReader): Promise<string[]> {
  const lines: string[] = [];
  for (let line; (line = await reader.next()) !== null;) lines.push(line);
  return lines;
}

Deno.test("LineReader.next() joins split lines and drops NULs, CRs, blanks and a cut tail", async () => {
  const euro = new TextEncoder().encode('{"e":"€"}\n');
  const chunks = ['{"a":1}\n\0{"b"', ":2}\r\n\n", euro.slice(0, 7), euro.slice(7), '{"cut"'];
  const reader = new LineReader(body(chunks), 1000, () => {}, new AbortController().signal);
  assert.deepEqual(await readAll(reader), ['{"a":1}', '{"b":2}', '{"e":"€"}']);
});

Deno.test("LineReader.next() fails as soon as its signal aborts, and calls onSilence", async () => {
  const abort = new AbortController();
  const never = new ReadableStream<Uint8Array>();
  const reader = new LineReader(never, 20, () => abort.abort(new Error("silent")), abort.signal);
  await assert.rejects(reader.next(), /silent/);
  await reader.close();
});

Deno.test("Backoff.next() doubles from the minimum up to the maximum, with jitter", () => {
  const backoff = new Backoff({ minDelayMs: 100, maxDelayMs: 1000 });
  const ceilings = [100, 200, 400, 800, 1000, 1000];
  for (const ceiling of ceilings) {
    const wait = backoff.next();
    assert.ok(
      wait >= ceiling / 2 && wait <= ceiling,
      `${wait} within [${ceiling / 2}, ${ceiling}]`,
    );
  }
  backoff.reset();
  assert.ok(backoff.next() <= 100);
  assert.ok(backoff.after(700) >= 700, "Retry-After is a floor");
  assert.ok(backoff.after(60_000) <= 1000, "capped at the maximum");
});

Deno.test("retryAfterMs() reads seconds and HTTP dates, and nothing else", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(retryAfterMs("2", now), 2000);
  assert.equal(retryAfterMs("Thu, 01 Jan 2026 00:00:03 GMT", now), 3000);
  assert.equal(retryAfterMs("Wed, 31 Dec 2025 00:00:00 GMT", now), 0);
  assert.equal(retryAfterMs("soon", now), null);
  assert.equal(retryAfterMs(null, now), null);
});

Deno.test("Position resumes from the cursor, the newest event, or the first keepalive", () => {
  const unknown = new Position("3f1c2b8e-9a4d-4c2e-8f6b-1d2e3f4a5b6c");
  const notice = unknown.answered(
    new Headers({ "X-Cursor-Unknown": "true", "X-Newest-Cursor": CURSOR }),
  );
  assert.deepEqual(notice, {
    type: "cursor-unknown",
    cursor: "3f1c2b8e-9a4d-4c2e-8f6b-1d2e3f4a5b6c",
  });
  assert.deepEqual(unknown.headers(), { "X-Fetch-Since-Cursor": CURSOR });

  const live = new Position();
  assert.equal(live.answered(new Headers()), null);
  live.keepalive(1700000000.5);
  live.keepalive(1700000005.5);
  assert.deepEqual(live.headers(), { "X-Fetch-Since": "1700000000.5" }, "the first keepalive");

  const since = new Position(null, 1600000000);
  since.answered(new Headers({ "X-Newest-Cursor": CURSOR }));
  assert.deepEqual(since.headers(), { "X-Fetch-Since": "1600000000" }, "the replay still to come");
  since.yielded(CURSOR, 1600000001);
  assert.deepEqual(since.headers(), { "X-Fetch-Since-Cursor": CURSOR });

  const truncated = new Position(CURSOR);
  assert.deepEqual(truncated.answered(new Headers({ "X-Backlog-Truncated": "true" })), {
    type: "truncated",
    cursor: CURSOR,
  });
});

Deno.test("CursorFile keeps the last cursor, written by close(), and refuses other content", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cursor-file-" });
  try {
    const path = `${dir}/cursor`;
    const fresh = await CursorFile.open(path);
    assert.equal(fresh.initial, null);
    fresh.set("01a21e48-d63f-7000-82ea-c42733d4c400");
    fresh.set(CURSOR);
    await fresh.close();
    assert.equal(await Deno.readTextFile(path), `${CURSOR}\n`);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["cursor"],
      "no temp file left",
    );
    assert.equal((await CursorFile.open(path)).initial, CURSOR);

    await Deno.writeTextFile(path, "not a cursor\n");
    await assert.rejects(CursorFile.open(path), /cursor: does not hold a cursor/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseSubArgs() and parsePubArgs() refuse what they cannot run", () => {
  assert.deepEqual(parseSubArgs(["http://h/t", "--since", "12.5", "--keepalive", "0.5"]), {
    url: "http://h/t",
    raw: false,
    cursorFile: null,
    since: 12.5,
    user: null,
    keepaliveMs: 500,
  });
  assert.equal(parsePubArgs(["http://h/t", "-"]).json, null, "stdin");
  const refused: string[][] = [
    [],
    ["ftp://h/t"],
    ["http://u:p@h/t"],
    ["http://h/t", "--password", "x"],
    ["http://h/t", "--since", "yesterday"],
    ["http://h/t", "http://h/u"],
  ];
  for (const args of refused) assert.throws(() => parseSubArgs(args), UsageError, args.join(" "));
  assert.throws(() => parsePubArgs(["http://h/t", "{}", "--retries", "1.5"]), UsageError);
});
