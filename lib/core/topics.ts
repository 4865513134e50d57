/**
 * Topics: request paths to topic sets, and the trie that finds every subscription whose
 * topics are a subset of an event's topics.
 *
 * A path is a set of topics: `/fruits/apples` is {fruits, apples}. Segments are
 * percent-decoded, empty segments ignored; order and repeats do not matter. A subscription
 * path may hold several sets separated by commas (`/a/b,c` is "a∧b OR c").
 *
 * @module
 */

/** A path segment that cannot be percent-decoded. */
export class TopicError extends Error {
  override name = "TopicError";
}

/** Sorted, de-duplicated topics: the key under which a set is indexed and matched. */
export type TopicSet = readonly string[];

function decodeSegment(segment: string): string {
  if (!segment.includes("%")) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new TopicError(`path segment "${segment}" is not valid percent-encoding`);
  }
}

/** The segments of a path, decoded, with empty ones dropped (repeats and order kept). */
export function pathTopics(path: string): string[] {
  const topics: string[] = [];
  for (const segment of path.split("/")) {
    if (segment !== "") topics.push(decodeSegment(segment));
  }
  return topics;
}

/** Sorts and de-duplicates topics into a {@link TopicSet}. */
export function toTopicSet(topics: readonly string[]): TopicSet {
  // Most events have one topic: no set, no sort.
  if (topics.length < 2) return topics;
  return [...new Set(topics)].sort();
}

/**
 * Parses a subscription path into its topic sets. An empty batch in a comma list is
 * ignored; a path with no topics at all is one empty set, which matches every event.
 *
 * @throws {TopicError} when a segment is not valid percent-encoding.
 * @example
 * ```ts
 * import { parseSubscription } from "./topics.ts";
 * console.assert(JSON.stringify(parseSubscription("/b/a,c,")) === '[["a","b"],["c"]]');
 * ```
 */
export function parseSubscription(path: string): TopicSet[] {
  const sets = new Map<string, TopicSet>();
  for (const batch of path.split(",")) {
    const set = toTopicSet(pathTopics(batch));
    if (set.length > 0) sets.set(set.join("/"), set);
  }
  return sets.size > 0 ? [...sets.values()] : [[]];
}

/** Where an event goes, from the path it was published to. */
export interface PublishPath {
  /** The path as published, percent-decoded. */
  readonly path: string;
  /** The topics, without a leading `private` marker. */
  readonly topics: readonly string[];
  /** Published under `/private/...`. */
  readonly private: boolean;
}

/** Publish paths parsed lately, by raw path; the oldest goes first when it is full. */
const publishPaths = new Map<string, PublishPath>();
const PUBLISH_PATHS_KEPT = 4096;

/**
 * Parses a publish path. A first segment `private` marks the event private and is not a
 * topic; commas are ordinary characters here, as in PyPubSub. Publishers send to few
 * paths again and again, so the answers for the last few thousand paths are kept: the
 * same path gives the same frozen object, which lets per-path work downstream (the
 * envelope's topics and path) be done once.
 *
 * @throws {TopicError} when a segment is not valid percent-encoding.
 * @example
 * ```ts
 * import { parsePublishPath } from "./topics.ts";
 * const target = parsePublishPath("/private/git/a%20b");
 * console.assert(target.path === "/private/git/a b" && target.topics.join() === "git,a b");
 * console.assert(parsePublishPath("/private/git/a%20b") === target);
 * ```
 */
export function parsePublishPath(path: string): PublishPath {
  let parsed = publishPaths.get(path);
  if (parsed) return parsed;
  const topics = pathTopics(path);
  const isPrivate = topics[0] === "private";
  if (isPrivate) topics.shift();
  const decoded = path.includes("%") ? path.split("/").map(decodeSegment).join("/") : path;
  parsed = Object.freeze({ path: decoded, topics: Object.freeze(topics), private: isPrivate });
  if (publishPaths.size >= PUBLISH_PATHS_KEPT) {
    publishPaths.delete(publishPaths.keys().next().value!);
  }
  publishPaths.set(path, parsed);
  return parsed;
}

/** True when every topic of `set` is in `topics`. */
export function coveredBy(set: readonly string[], topics: ReadonlySet<string>): boolean {
  for (const topic of set) if (!topics.has(topic)) return false;
  return true;
}

class TrieNode<T> {
  children: Map<string, TrieNode<T>> | null = null;
  values: Set<T> | null = null;
}

/**
 * An index of topic sets. A value is stored under the path of its sorted topics; matching
 * an event walks only the children whose topic the event has, so the cost follows the
 * subscriptions that can match, not how many there are.
 *
 * @example
 * ```ts
 * import { TopicTrie } from "./topics.ts";
 * const trie = new TopicTrie<string>();
 * trie.add(["apples", "fruits"], "s1");
 * const hits: string[] = [];
 * trie.match(["apples", "fruits", "red"], (v) => hits.push(v));
 * console.assert(hits[0] === "s1");
 * ```
 */
export class TopicTrie<T> {
  #root = new TrieNode<T>();
  #size = 0;

  /** How many (set, value) entries are stored. */
  get size(): number {
    return this.#size;
  }

  /** Stores `value` under `set` (sorted and de-duplicated). */
  add(set: TopicSet, value: T): void {
    let node = this.#root;
    for (const topic of set) {
      node.children ??= new Map();
      let child = node.children.get(topic);
      if (!child) node.children.set(topic, child = new TrieNode());
      node = child;
    }
    node.values ??= new Set();
    if (!node.values.has(value)) {
      node.values.add(value);
      this.#size++;
    }
  }

  /** Removes `value` from `set`, pruning nodes left empty. */
  delete(set: TopicSet, value: T): void {
    const path: TrieNode<T>[] = [this.#root];
    for (const topic of set) {
      const child = path[path.length - 1]!.children?.get(topic);
      if (!child) return;
      path.push(child);
    }
    const leaf = path[path.length - 1]!;
    if (!leaf.values?.delete(value)) return;
    this.#size--;
    for (let i = set.length; i > 0; i--) {
      const node = path[i]!;
      if (node.values?.size || node.children?.size) break;
      path[i - 1]!.children!.delete(set[i - 1]!);
    }
  }

  /**
   * Calls `visit` for every value stored under a subset of `topics`. A value stored under
   * several matching sets is visited once per set; callers de-duplicate.
   *
   * @param topics the event's topics as a {@link TopicSet} (sorted, unique).
   * @param context handed to every `visit`, so a caller can pass one function made once
   * rather than a closure per call.
   */
  match<C>(topics: TopicSet, visit: (value: T, context: C) => void, context?: C): void {
    this.#walk(this.#root, topics, 0, null, visit, context as C);
  }

  /** `position` maps each event topic to its index; made on first need, once per match. */
  #walk<C>(
    node: TrieNode<T>,
    topics: TopicSet,
    from: number,
    position: Map<string, number> | null,
    visit: (value: T, context: C) => void,
    context: C,
  ): void {
    if (node.values) { for (const value of node.values) visit(value, context); }
    const children = node.children;
    if (!children) return;
    if (children.size < topics.length - from) {
      // Fewer children than topics left: look each child up in the event instead.
      position ??= new Map(topics.map((topic, i) => [topic, i]));
      for (const [topic, child] of children) {
        const at = position.get(topic);
        if (at !== undefined && at >= from) {
          this.#walk(child, topics, at + 1, position, visit, context);
        }
      }
      return;
    }
    for (let i = from; i < topics.length; i++) {
      const child = children.get(topics[i]!);
      if (child) this.#walk(child, topics, i + 1, position, visit, context);
    }
  }
}
