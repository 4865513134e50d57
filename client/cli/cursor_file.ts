/**
 * The cursor file of `sub --cursor-file`: where a subscriber left off, kept across its own
 * restarts.
 *
 * @module
 */

/** How long a new cursor may wait before it is written while events stream. */
const BATCH_MS = 250;

const CURSOR = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A file holding one cursor. Updates are batched (at most one write per 250 ms while
 * events stream) and each write is atomic: a temporary file beside it, then a rename, so
 * a crash leaves the old cursor or the new one, never half of one. {@link close} writes
 * the last cursor before it returns.
 *
 * @example
 * ```ts ignore
 * const file = await CursorFile.open("/var/lib/sub/cursor");
 * file.set("01a21e48-d63f-7000-82ea-c42733d4c408");
 * await file.close();
 * ```
 */
export class CursorFile {
  readonly path: string;
  /** The cursor the file held when opened; null when it did not exist or was empty. */
  readonly initial: string | null;
  #latest: string | null;
  #written: string | null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #writing: Promise<void> = Promise.resolve();
  #failed: Error | null = null;

  private constructor(path: string, initial: string | null) {
    this.path = path;
    this.initial = initial;
    this.#latest = initial;
    this.#written = initial;
  }

  /**
   * Reads the file, which may not exist yet.
   *
   * @throws {Error} "FILE: …" when it cannot be read or does not hold a cursor.
   */
  static async open(path: string): Promise<CursorFile> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return new CursorFile(path, null);
      throw new Error(`${path}: cannot read: ${(err as Error).message}`);
    }
    const cursor = text.trim();
    if (cursor === "") return new CursorFile(path, null);
    if (!CURSOR.test(cursor)) {
      throw new Error(
        `${path}: does not hold a cursor (a 36-character UUID): "${cursor.slice(0, 40)}"`,
      );
    }
    return new CursorFile(path, cursor);
  }

  /**
   * Records a new cursor; it is written within 250 ms, or by {@link close}.
   *
   * @throws {Error} when an earlier write failed: the file no longer keeps up.
   */
  set(cursor: string): void {
    if (this.#failed) throw this.#failed;
    this.#latest = cursor;
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      this.#flush();
    }, BATCH_MS);
  }

  /**
   * Writes the last cursor recorded and waits for every write.
   *
   * @throws {Error} when the file cannot be written.
   */
  async close(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#flush();
    await this.#writing;
    if (this.#failed) throw this.#failed;
  }

  /** Chains a write of the latest cursor after the one under way, if it changed. */
  #flush(): void {
    this.#writing = this.#writing.then(async () => {
      const cursor = this.#latest;
      if (cursor === null || cursor === this.#written) return;
      const temp = `${this.path}.tmp`;
      await Deno.writeTextFile(temp, cursor + "\n");
      await Deno.rename(temp, this.path);
      this.#written = cursor;
    }).catch((err) => {
      this.#failed ??= new Error(`${this.path}: cannot write: ${(err as Error).message}`);
    });
  }
}
