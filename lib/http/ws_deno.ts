/**
 * WebSocket subscribers on the `Deno.serve` engine, through `Deno.upgradeWebSocket`. Deno
 * pings a silent peer and closes the socket when the pong does not come.
 *
 * @module
 */

import type { OpenStream } from "./engine.ts";
import { type CloseReason, Subscriber, type SubscriberOptions } from "../core/subscriber.ts";
import { socketClose } from "./websocket.ts";

const decoder = new TextDecoder();
/** The frame last decoded, and its text: a fan-out decodes each event once, not per socket. */
let decodedBytes: Uint8Array | null = null;
let decodedText = "";

/** Deno sends a string as a text message (bytes would go as a binary one). */
function textOf(bytes: Uint8Array): string {
  if (bytes !== decodedBytes) {
    decodedText = decoder.decode(bytes);
    decodedBytes = bytes;
  }
  return decodedText;
}

/**
 * A subscriber whose frames are text messages on a Deno `WebSocket`. What the hub sends
 * before the handshake completes (the opening status, a replay) is held until then.
 */
class DenoSocketSubscriber extends Subscriber {
  readonly #socket: WebSocket;
  #held: string[] | null = [];
  #heldBytes = 0;

  constructor(opts: SubscriberOptions, socket: WebSocket) {
    super(opts);
    this.#socket = socket;
    socket.onopen = () => this.#open();
    socket.onclose = () => this.ended();
  }

  get queuedBytes(): number {
    if (this.closed) return 0;
    return this.#held ? this.#heldBytes : this.#socket.bufferedAmount;
  }

  #open(): void {
    const held = this.#held ?? [];
    this.#held = null;
    for (const text of held) this.#socket.send(text);
  }

  protected write(bytes: Uint8Array): void {
    const text = textOf(bytes);
    if (this.#held) {
      this.#held.push(text);
      this.#heldBytes += bytes.byteLength;
    } else {
      this.#socket.send(text);
    }
  }

  /** A WebSocket has a close handshake of its own: it says why with a close code. */
  protected cut(_flush: boolean, reason: CloseReason): void {
    const { code, reason: text } = socketClose(reason);
    try {
      this.#socket.close(code, text);
    } catch {
      // Not open yet or already closing: Deno ends it either way.
    }
  }
}

/**
 * Upgrades `req` to a WebSocket subscriber; Deno pings it after `pingSeconds` of silence.
 *
 * @returns the stream and the `101` response to return to `Deno.serve`, or null when
 * the request is not a valid WebSocket upgrade.
 */
export function upgradeDeno(
  req: Request,
  opts: SubscriberOptions,
  pingSeconds: number,
): { stream: OpenStream; response: Response } | null {
  let upgraded: { socket: WebSocket; response: Response };
  try {
    upgraded = Deno.upgradeWebSocket(req, { idleTimeout: pingSeconds });
  } catch {
    return null;
  }
  const subscriber = new DenoSocketSubscriber(opts, upgraded.socket);
  return { stream: { subscriber, body: null }, response: upgraded.response };
}
