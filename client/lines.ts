/**
 * The lines of a subscription stream, read from a response body, with a limit on how long
 * a read may wait for bytes.
 *
 * @module
 */

/**
 * Reads `\n`-terminated lines from a byte stream. A `\0` after a line (what PyPubSub sends
 * to "oldschool" clients) and a `\r` before the `\n` are dropped; blank lines are skipped.
 * A last line without its `\n` is not returned: the stream was cut in the middle of it.
 *
 * When a read brings no bytes for `silenceMs`, `onSilence` is called; it is expected to
 * abort `signal`. A pending read fails as soon as `signal` aborts, without relying on
 * the runtime to fail it (Deno 2.9 sometimes leaves it pending after a fetch abort).
 *
 * @example
 * ```ts
 * import { LineReader } from "./lines.ts";
 * const body = new Blob(['{"a":1}\n\0{"b":2}\n{"c"']).stream();
 * const lines = new LineReader(body, 1000, () => {}, new AbortController().signal);
 * console.assert(await lines.next() === '{"a":1}');
 * console.assert(await lines.next() === '{"b":2}');
 * console.assert(await lines.next() === null);
 * ```
 */
export class LineReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  readonly #silenceMs: number;
  readonly #onSilence: () => void;
  readonly #signal: AbortSignal;
  #partial = "";
  #lines: string[] = [];
  #index = 0;

  constructor(
    body: ReadableStream<Uint8Array>,
    silenceMs: number,
    onSilence: () => void,
    signal: AbortSignal,
  ) {
    this.#reader = body.getReader();
    this.#silenceMs = silenceMs;
    this.#onSilence = onSilence;
    this.#signal = signal;
  }

  /** The next non-blank line, without its terminator; null when the stream ended. */
  async next(): Promise<string | null> {
    for (;;) {
      while (this.#index < this.#lines.length) {
        const line = clean(this.#lines[this.#index++]!);
        if (line !== "") return line;
      }
      const { value, done } = await this.#read();
      if (done) return null;
      const parts = (this.#partial + this.#decoder.decode(value, { stream: true })).split("\n");
      this.#partial = parts.pop()!;
      this.#lines = parts;
      this.#index = 0;
    }
  }

  /** Releases the stream; safe to call more than once. */
  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }

  async #read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    const signal = this.#signal;
    signal.throwIfAborted();
    const aborted = Promise.withResolvers<never>();
    const onAbort = () => aborted.reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(this.#onSilence, this.#silenceMs);
    try {
      return await Promise.race([this.#reader.read(), aborted.promise]);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }
}

function clean(line: string): string {
  let start = 0;
  while (line.charCodeAt(start) === 0) start++;
  const end = line.endsWith("\r") ? line.length - 1 : line.length;
  return start === 0 && end === line.length ? line : line.slice(start, end);
}
