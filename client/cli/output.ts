/**
 * Where the command line writes: events to stdout, messages for a person to stderr.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Writes all of `bytes` to stdout. */
export async function writeOut(bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    done += await Deno.stdout.write(bytes.subarray(done));
  }
}

/** Writes one line for a person to stderr, at once. */
export function say(line: string): void {
  const bytes = encoder.encode(line + "\n");
  for (let done = 0; done < bytes.length;) {
    done += Deno.stderr.writeSync(bytes.subarray(done));
  }
}
