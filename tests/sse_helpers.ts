/**
 * Test clients for the browser transports: a Server-Sent Events reader over fetch (which,
 * unlike `EventSource`, can send credentials) and a WebSocket message queue.
 */

import { type FetchInit } from "./helpers.ts";

/** One dispatched Server-Sent Event. */
export interface SseEvent {
  event: string;
  id: string;
  data: string;
}

/** Reads an SSE response event by event; comments are collected apart. */
export class SseReader {
  readonly response: Response;
  readonly comments: string[] = [];
  /** `retry:` values seen. */
  readonly retries: number[] = [];
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  #pending: Promise<ReadableStreamReadResult<string>> | null = null;

  private constructor(response: Response) {
    this.response = response;
    this.#reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** Opens an SSE stream with fetch; throws unless it answers 200. */
  static async open(url: string, init: FetchInit = {}): Promise<SseReader> {
    const headers = new Headers(init.headers);
    headers.set("Accept", "text/event-stream");
    const res = await fetch(url, { ...init, headers });
    if (res.status !== 200) {
      throw new Error(`SSE ${url} answered ${res.status}: ${await res.text()}`);
    }
    return new SseReader(res);
  }

  /** The next event (named or not), within `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    let event = "message", id = "";
    const data: string[] = [];
    while (true) {
      const nl = this.#buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        if (line === "") {
          if (data.length > 0) return { event, id, data: data.join("\n") };
          continue;
        }
        if (line.startsWith(":")) {
          this.comments.push(line);
          continue;
        }
        const colon = line.indexOf(":");
        const field = line.slice(0, colon);
        const value = line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(value);
        else if (field === "event") event = value;
        else if (field === "id") id = value;
        else if (field === "retry") this.retries.push(Number(value));
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for an event");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("timed out waiting for an event")), left);
      });
      try {
        this.#pending ??= this.#reader.read();
        const { value, done } = await Promise.race([this.#pending, timeout]);
        this.#pending = null;
        if (done) throw new Error("stream ended");
        this.#buffer += value;
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** The next unnamed event's data, parsed. */
  async nextData(timeoutMs = 5000): Promise<Record<string, unknown>> {
    while (true) {
      const ev = await this.next(timeoutMs);
      if (ev.event === "message") return JSON.parse(ev.data);
    }
  }

  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
    await this.#pending?.catch(() => {});
  }
}

/** A WebSocket whose text messages are queued, parsed, for the test to take in order. */
export class SocketClient {
  readonly socket: WebSocket;
  readonly #messages: Record<string, unknown>[] = [];
  #wake: (() => void) | null = null;
  /** The close event, once the socket closed. */
  closed: Promise<CloseEvent>;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.onmessage = (e) => {
      this.#messages.push(JSON.parse(e.data as string));
      this.#wake?.();
    };
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", (e) => {
        resolve(e);
        this.#wake?.();
      });
    });
  }

  /** Connects; resolves once open. */
  static async open(url: string, headers?: Record<string, string>): Promise<SocketClient> {
    const init = headers ? { headers } : undefined;
    // Deno's WebSocket takes request headers as a second argument.
    const socket = new WebSocket(url, init as unknown as string[]);
    const client = new SocketClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = (e) => reject(new Error(`WebSocket ${url}: ${(e as ErrorEvent).message}`));
    });
    return client;
  }

  /** The next message (keepalives and the opening status included unless `events`). */
  async next(
    opts: { events?: boolean; timeoutMs?: number } = {},
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    while (true) {
      const msg = this.#messages.shift();
      if (msg) {
        if (opts.events && ("stillalive" in msg || "stream" in msg)) continue;
        return msg;
      }
      if (this.socket.readyState >= WebSocket.CLOSING) throw new Error("socket closed");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for a message");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = null;
    }
  }

  /** Closes from the client side and waits for the close to finish. */
  async close(): Promise<void> {
    if (this.socket.readyState < WebSocket.CLOSING) this.socket.close();
    await this.closed;
  }
}
