/**
 * Escaping of user names for LDAP distinguished names (RFC 4514) and search filters
 * (RFC 4515), the `%s` patterns of PyPubSub's LDAP settings, and DN comparison.
 *
 * A user name is untrusted input: unescaped, `*)(uid=*` widens a filter and `admin,ou=x`
 * moves a DN to another branch. Every substitution here escapes for the context the `%s`
 * sits in.
 *
 * @module
 */

const DN_SPECIAL = new Set(['"', "+", ",", ";", "<", ">", "\\", "="]);

/**
 * Escapes a value for use as an attribute value in a DN (RFC 4514 §2.4).
 *
 * @example
 * ```ts
 * import { escapeDnValue } from "./ldap_escape.ts";
 * escapeDnValue("admin,ou=x"); // "admin\\,ou\\=x"
 * ```
 */
export function escapeDnValue(value: string): string {
  const chars = Array.from(value);
  return chars.map((ch, i) => {
    if (DN_SPECIAL.has(ch)) return "\\" + ch;
    if (ch === "\0") return "\\00";
    if (ch === " " && (i === 0 || i === chars.length - 1)) return "\\ ";
    if (ch === "#" && i === 0) return "\\#";
    return ch;
  }).join("");
}

const FILTER_ESCAPES: Record<string, string> = {
  "\\": "\\5c",
  "*": "\\2a",
  "(": "\\28",
  ")": "\\29",
  "\0": "\\00",
};

/**
 * Escapes a value for use as an assertion value in a search filter (RFC 4515 §3).
 * Non-ASCII characters stay as they are (sent as UTF-8).
 *
 * @example
 * ```ts
 * import { escapeFilterValue } from "./ldap_escape.ts";
 * escapeFilterValue("*)(uid=*"); // "\\2a\\29\\28uid=\\2a"
 * ```
 */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (ch) => FILTER_ESCAPES[ch] ?? ch);
}

/**
 * Why a `%s` pattern is unusable, or undefined when it is fine. A pattern needs at least
 * one `%s` (the user name); `%%` is a literal `%`, as in Python's `%` formatting.
 */
export function patternProblem(pattern: string): string | undefined {
  const bad = /%(?![s%])/.exec(pattern.replaceAll("%%", ""));
  if (bad) return `unsupported "%" sequence in ${JSON.stringify(pattern)} (use %s or %%)`;
  if (!pattern.replaceAll("%%", "").includes("%s")) {
    return `must contain %s for the user name, got ${JSON.stringify(pattern)}`;
  }
  return undefined;
}

/**
 * Fills `%s` in a DN pattern such as `uid=%s,ou=people,dc=example,dc=org` with the user
 * name escaped for a DN.
 */
export function fillDnPattern(pattern: string, user: string): string {
  const value = escapeDnValue(user);
  return pattern.replace(/%([s%])/g, (_, c: string) => c === "%" ? "%" : value);
}

/**
 * Fills `%s` in a filter pattern with the user name escaped for a filter, and wraps the
 * result in parentheses when the pattern has none (PyPubSub's patterns are written
 * `uid=%s`). Where the `%s` sits inside a DN-valued assertion, as in
 * `member=uid=%s,ou=people,dc=example,dc=org`, the name is first escaped for a DN, so a
 * comma in it stays part of the value.
 *
 * @example
 * ```ts
 * import { fillFilterPattern } from "./ldap_escape.ts";
 * fillFilterPattern("uid=%s", "a*"); // "(uid=a\\2a)"
 * ```
 */
export function fillFilterPattern(pattern: string, user: string): string {
  const plain = escapeFilterValue(user);
  const inDn = escapeFilterValue(escapeDnValue(user));
  const filled = pattern.replace(
    /%([s%])/g,
    (_, c: string, offset: number) => {
      if (c === "%") return "%";
      return valueBeforeIsDn(pattern.slice(0, offset)) ? inDn : plain;
    },
  );
  return filled.trimStart().startsWith("(") ? filled : `(${filled})`;
}

/** True when the assertion value that ends the text already holds an `attr=` part. */
function valueBeforeIsDn(before: string): boolean {
  const assertion = before.slice(before.lastIndexOf("(") + 1);
  const eq = assertion.indexOf("=");
  return eq >= 0 && assertion.slice(eq + 1).includes("=");
}

/**
 * A DN in a canonical form for comparison: attribute types and values lower-cased,
 * spaces around separators dropped, escapes written one way, multi-valued RDNs sorted.
 * Values compare case-insensitively, which is how `cn`, `uid`, `ou` and `dc` match.
 *
 * @example
 * ```ts
 * import { normalizeDn } from "./ldap_escape.ts";
 * normalizeDn("CN=Ops, OU=Groups,dc=example,dc=org"); // "cn=ops,ou=groups,dc=example,dc=org"
 * ```
 */
export function normalizeDn(dn: string): string {
  return splitUnescaped(dn, ",;")
    .map((rdn) =>
      splitUnescaped(rdn, "+")
        .map((ava) => {
          const [type = "", ...rest] = splitUnescaped(ava, "=");
          const value = unescapeDnValue(trimUnescaped(rest.join("=")));
          return `${type.trim().toLowerCase()}=${escapeDnValue(value.toLowerCase())}`;
        })
        .sort()
        .join("+")
    )
    .join(",");
}

/** Splits on any of `separators` that is not escaped with a backslash. */
function splitUnescaped(text: string, separators: string): string[] {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === "\\" && i + 1 < text.length) {
      current += ch + text[i + 1];
      i++;
    } else if (separators.includes(ch)) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/** Trims spaces that are not escaped (an escaped trailing space is part of the value). */
function trimUnescaped(value: string): string {
  let out = value.trimStart();
  while (out.endsWith(" ") && backslashesBefore(out, out.length - 1) % 2 === 0) {
    out = out.slice(0, -1);
  }
  return out;
}

function backslashesBefore(text: string, index: number): number {
  let n = 0;
  while (index - n - 1 >= 0 && text[index - n - 1] === "\\") n++;
  return n;
}

/** Decodes `\c` and `\XX` escapes (hex pairs are UTF-8 bytes). */
function unescapeDnValue(value: string): string {
  const encoder = new TextEncoder();
  const bytes: number[] = [];
  const chars = Array.from(value);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    const hex = (chars[i + 1] ?? "") + (chars[i + 2] ?? "");
    if (ch === "\\" && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (ch === "\\" && i + 1 < chars.length) {
      bytes.push(...encoder.encode(chars[i + 1]));
      i++;
    } else {
      bytes.push(...encoder.encode(ch));
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
