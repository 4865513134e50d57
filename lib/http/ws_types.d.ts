// The few parts of npm:ws@8 this project uses. `@types/ws` is not used: its
// `@types/node` dependency would replace Deno's own `node:` types.

import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

/** One WebSocket connection (a server's, or a client's). */
export declare class WebSocket {
  constructor(url: string, options?: { headers?: Record<string, string> });
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: Uint8Array | string, options?: { binary?: boolean }): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(): void;
  pause(): void;
  resume(): void;
  on(event: "pong" | "open", listener: () => void): this;
  on(event: "close", listener: (code: number, reason: Uint8Array) => void): this;
  on(event: "message", listener: (data: Uint8Array, binary: boolean) => void): this;
  on(event: "error", listener: (err: Error) => void): this;
}

/** Options of a server that takes upgrades handed to it. */
export interface ServerOptions {
  noServer: true;
  /** Largest message accepted from a client, in bytes. */
  maxPayload?: number;
  /** Milliseconds a close handshake may take before the connection is cut. */
  closeTimeout?: number;
}

/** Completes WebSocket handshakes on sockets an HTTP server hands over. */
export declare class WebSocketServer {
  constructor(options: ServerOptions);
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Uint8Array,
    callback: (ws: WebSocket) => void,
  ): void;
  close(): void;
}
