"""Reads a pubsub stream the way the ASF's older clients do: requests with
iter_content(chunk_size=None), which yields one HTTP chunk at a time. Chunks are added to
a buffer, and a buffer that ends with a newline is parsed as one JSON document. A chunk
that holds two lines fails that parse; those clients drop it without a word, this reader
reports it as {"dropped": lines}.

Usage: chunk_reader.py URL COUNT SECONDS [FETCH_SINCE]
Prints one JSON object per line: {"connected": status}, {"event": {...}} or
{"dropped": n}; exits 0 after COUNT events, 3 when SECONDS pass first.
"""

import json
import sys
import time

import requests


def main() -> int:
    url, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    headers = {"X-Fetch-Since": sys.argv[4]} if len(sys.argv) > 4 else {}
    deadline = time.monotonic() + seconds
    seen = 0
    with requests.get(url, headers=headers, stream=True, timeout=seconds) as resp:
        print(json.dumps({"connected": resp.status_code}), flush=True)
        buffer = b""
        for chunk in resp.iter_content(chunk_size=None):
            if time.monotonic() > deadline:
                return 3
            buffer += chunk
            if not buffer.endswith(b"\n"):
                continue
            text, buffer = buffer, b""
            try:
                event = json.loads(text)
            except ValueError:
                print(json.dumps({"dropped": text.count(b"\n")}), flush=True)
                continue
            if "stillalive" in event:
                continue
            print(json.dumps({"event": event}), flush=True)
            seen += 1
            if seen == count:
                return 0
    return 3


if __name__ == "__main__":
    sys.exit(main())
