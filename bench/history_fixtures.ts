/**
 * Events shaped like real PyPubSub traffic (a commit notification of about 700 bytes),
 * shared by the history benchmarks.
 *
 * @module
 */

import { buildEvent, type Event } from "../lib/core/event.ts";

const target = {
  path: "/git/commit/infrastructure-puppet",
  topics: ["git", "commit", "infrastructure-puppet"],
  private: false,
};

const body = JSON.stringify({
  commit: {
    repository: "infrastructure-puppet",
    author: "someone@apache.org",
    subject: "Update the thing that needs updating in the place",
    files: ["modules/a/manifests/init.pp", "data/nodes/b.yaml", "modules/c/templates/d.erb"],
    sha: "0123456789abcdef0123456789abcdef01234567",
    ref: "refs/heads/main",
    log: "A longer description of the change, as commit messages go, with a few more words " +
      "to make it the size of a typical notification. ".repeat(3),
  },
});

/** A new commit-like event, published now. */
export function commitEvent(): Event {
  return buildEvent(target, body);
}
