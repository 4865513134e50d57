"""Reads a pubsub stream the way asyncio clients of PyPubSub do: aiohttp, one line at a
time with readuntil(b"\\n"), each line parsed as JSON.

A stream that is cut raises ClientPayloadError; a refused connection raises
ClientConnectorError. Both are caught: the reader waits a little and connects again. A
stream that ends cleanly makes readuntil return b"", which json.loads rejects: that
exception is not caught, so the reader dies, as those clients do.

Usage: line_reader.py URL COUNT SECONDS
Prints one JSON object per line: {"connected": status}, {"event": {...}} or
{"reconnect": "ErrorName"}; exits 0 after COUNT events, 3 when SECONDS pass first.
"""

import asyncio
import json
import sys

import aiohttp


async def read(url: str, count: int) -> None:
    seen = 0
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as resp:
                    print(json.dumps({"connected": resp.status}), flush=True)
                    while True:
                        line = await resp.content.readuntil(b"\n")
                        event = json.loads(line)
                        if "stillalive" in event:
                            continue
                        print(json.dumps({"event": event}), flush=True)
                        seen += 1
                        if seen == count:
                            return
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as err:
                print(json.dumps({"reconnect": type(err).__name__}), flush=True)
                await asyncio.sleep(0.1)


def main() -> int:
    url, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    try:
        asyncio.run(asyncio.wait_for(read(url, count), seconds))
    except asyncio.TimeoutError:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
