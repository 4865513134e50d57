/**
 * `sub`: prints the events of a URL until stopped, keeping its place in a cursor file.
 *
 * @module
 */

import { AuthError } from "../errors.ts";
import { subscribeLines, type SubscriptionState } from "../subscribe.ts";
import type { SubArgs } from "./args.ts";
import { CursorFile } from "./cursor_file.ts";
import { rawLine, readable } from "./format.ts";
import { credentialsFor } from "./password.ts";
import { say, writeOut } from "./output.ts";

/** The signals that stop `sub`, and its exit code for each. */
const STOP_SIGNALS = { SIGTERM: 0, SIGINT: 130 } as const;

/**
 * Runs `sub` until SIGTERM or SIGINT; resolves with the exit code. The cursor file is
 * written, with the cursor of the last event printed, before it resolves.
 *
 * @throws {Error} when the cursor file cannot be read or the password cannot be asked.
 */
export async function runSub(args: SubArgs): Promise<number> {
  const cursorFile = args.cursorFile === null ? null : await CursorFile.open(args.cursorFile);
  const auth = args.user === null ? undefined : await credentialsFor(args.user);
  const stop = new AbortController();
  let code = 0;
  const handlers = Object.entries(STOP_SIGNALS).map(([signal, exit]) => {
    const handler = () => {
      code = exit;
      stop.abort();
    };
    Deno.addSignalListener(signal as Deno.Signal, handler);
    return () => Deno.removeSignalListener(signal as Deno.Signal, handler);
  });
  const format = args.raw ? rawLine : readable;
  const encoder = new TextEncoder();
  try {
    const events = subscribeLines(args.url, {
      auth,
      cursor: cursorFile?.initial ?? undefined,
      since: args.since ?? undefined,
      signal: stop.signal,
      keepaliveMs: args.keepaliveMs,
      onState: reporter(cursorFile),
    });
    for await (const received of events) {
      await writeOut(encoder.encode(format(received)));
      const cursor = received.event.pubsub_cursor;
      if (cursor) cursorFile?.set(cursor);
    }
    return code;
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    say(`sub: ${args.url}: ${err.message}`);
    return 1;
  } finally {
    for (const remove of handlers) remove();
    await cursorFile?.close();
  }
}

/**
 * Reports on stderr what a person watching should know (a lost connection, a gap the
 * server announced), and keeps the cursor file on the resume point of a new connection,
 * so that a restart before the first event still misses nothing.
 */
function reporter(cursorFile: CursorFile | null): (state: SubscriptionState) => void {
  let lost = false;
  return (state) => {
    switch (state.type) {
      case "connected":
        if (state.cursor !== null) cursorFile?.set(state.cursor);
        if (lost) say("sub: reconnected");
        lost = false;
        return;
      case "disconnected":
        lost = true;
        say(`sub: ${state.reason}; retrying in ${(state.retryInMs / 1000).toFixed(1)} s`);
        return;
      case "truncated":
        say(`sub: events after ${state.cursor} were dropped by the server's retention`);
        return;
      case "cursor-unknown":
        say(
          `sub: the server does not know cursor ${state.cursor}; continuing from its newest event`,
        );
        return;
    }
  };
}
