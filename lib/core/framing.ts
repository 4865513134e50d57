/**
 * Framings: the four ways an event leaves the server (NDJSON, PyPubSub's "oldschool"
 * NDJSON with `\0`, Server-Sent Events, WebSocket text messages). Each framing builds an
 * event's bytes once (cached on the {@link Event}) and a keepalive once per tick, shared
 * by every subscriber of that framing; the hub only asks a subscriber's framing for them.
 *
 * @module
 */

import type { Event } from "./event.ts";

const encoder = new TextEncoder();

/** What a stream is told first (SSE and WebSocket only): where it starts. */
export interface StreamStatus {
  /** The newest cursor the server has, or null before the first event. */
  readonly newestCursor: string | null;
  /** The requested cursor could not be placed in the history; nothing was replayed. */
  readonly cursorUnknown: boolean;
  /** Events after the requested point may have been dropped by retention. */
  readonly backlogTruncated: boolean;
}

/**
 * One wire format. Subclasses say how an event, a keepalive and the opening status
 * look; the keepalive bytes are cached per timestamp, so one ping round encodes once.
 */
export abstract class Framing {
  #keepaliveAt = -1;
  #keepalive = new Uint8Array(0);

  /** The event's bytes in this framing, shared by every subscriber. */
  abstract event(event: Event): Uint8Array;

  /** The text of a keepalive sent at `seconds` since the epoch. */
  protected abstract keepaliveText(seconds: number): string;

  /** A keepalive for `seconds` since the epoch; built once per distinct time. */
  keepalive(seconds: number): Uint8Array {
    if (seconds !== this.#keepaliveAt) {
      this.#keepaliveAt = seconds;
      this.#keepalive = encoder.encode(this.keepaliveText(seconds));
    }
    return this.#keepalive;
  }

  /** What the stream starts with; null for the PyPubSub framings, which have no such line. */
  opening(_status: StreamStatus): Uint8Array | null {
    return null;
  }
}

/** The status as a JSON object, as SSE and WebSocket clients read it. */
function statusJson(status: StreamStatus): string {
  return JSON.stringify({
    newest_cursor: status.newestCursor,
    cursor_unknown: status.cursorUnknown,
    backlog_truncated: status.backlogTruncated,
  });
}

class Ndjson extends Framing {
  event(event: Event): Uint8Array {
    return event.line;
  }

  protected keepaliveText(seconds: number): string {
    return `{"stillalive": ${seconds}}\n`;
  }
}

class Oldschool extends Framing {
  event(event: Event): Uint8Array {
    return event.oldschoolLine;
  }

  protected keepaliveText(seconds: number): string {
    return `{"stillalive": ${seconds}}\n\0`;
  }
}

/** How long an `EventSource` waits before reconnecting, in milliseconds (`retry:`). */
export const SSE_RETRY_MS = 2000;

class ServerSentEvents extends Framing {
  event(event: Event): Uint8Array {
    return event.sseFrame;
  }

  protected keepaliveText(seconds: number): string {
    return `: stillalive ${seconds}\n\n`;
  }

  /** The `retry:` hint, then a named `stream` event a page sees with `addEventListener`. */
  override opening(status: StreamStatus): Uint8Array {
    return encoder.encode(`retry: ${SSE_RETRY_MS}\nevent: stream\ndata: ${statusJson(status)}\n\n`);
  }
}

class WebSocketText extends Framing {
  event(event: Event): Uint8Array {
    return event.message;
  }

  protected keepaliveText(seconds: number): string {
    return `{"stillalive": ${seconds}}`;
  }

  /** `{"stream": {...}}`, tagged like `{"stillalive": …}` so it never reads as an event. */
  override opening(status: StreamStatus): Uint8Array {
    return encoder.encode(`{"stream": ${statusJson(status)}}`);
  }
}

/** One JSON object per line: PyPubSub's stream. */
export const NDJSON: Framing = new Ndjson();
/** NDJSON with `\0` after every line, for `clients.oldschoolers`. */
export const OLDSCHOOL: Framing = new Oldschool();
/** Server-Sent Events: `id: <cursor>` and `data: <json>` per event, comment keepalives. */
export const SSE: Framing = new ServerSentEvents();
/** One WebSocket text message per event or keepalive (the bytes are UTF-8 JSON). */
export const WEBSOCKET: Framing = new WebSocketText();
