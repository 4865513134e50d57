/**
 * The version, read from `deno.json` so there is one place to change it.
 *
 * @module
 */

import meta from "../deno.json" with { type: "json" };

/** The DenoPubSub version, as in the `Server` header. */
export const VERSION: string = meta.version;
