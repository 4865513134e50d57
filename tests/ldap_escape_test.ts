import assert from "node:assert/strict";
import { FilterParser } from "ldapts";
import {
  escapeDnValue,
  escapeFilterValue,
  fillDnPattern,
  fillFilterPattern,
  normalizeDn,
  patternProblem,
} from "../lib/auth/ldap_escape.ts";

Deno.test("escapeDnValue() escapes the RFC 4514 specials, edge spaces and a leading #", () => {
  assert.equal(escapeDnValue("alice"), "alice");
  assert.equal(escapeDnValue("admin,ou=x"), "admin\\,ou\\=x");
  assert.equal(escapeDnValue('a+b"c;d<e>f\\g'), 'a\\+b\\"c\\;d\\<e\\>f\\\\g');
  assert.equal(escapeDnValue(" #a b "), "\\ #a b\\ ");
  assert.equal(escapeDnValue("#x"), "\\#x");
  assert.equal(escapeDnValue("a\0b"), "a\\00b");
  assert.equal(escapeDnValue("jürgen 😀"), "jürgen 😀");
});

Deno.test("escapeFilterValue() escapes * ( ) \\ and NUL", () => {
  assert.equal(escapeFilterValue("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
  assert.equal(escapeFilterValue("a\\b\0"), "a\\5cb\\00");
  assert.equal(escapeFilterValue("jürgen"), "jürgen");
});

Deno.test("fillFilterPattern() keeps an injected filter a single equality match", () => {
  for (const name of ["*", "*)(uid=*", "x)(|(member=*", "a\\2a", "admin,ou=x"]) {
    const filter = FilterParser.parseString(fillFilterPattern("uid=%s", name));
    assert.deepEqual(
      { type: filter.constructor.name, value: (filter as unknown as { value: string }).value },
      { type: "EqualityFilter", value: name },
    );
  }
});

Deno.test("fillFilterPattern() escapes for a DN where %s sits inside a DN value", () => {
  const pattern = "member=uid=%s,ou=people,dc=example,dc=org";
  assert.equal(
    fillFilterPattern(pattern, "dana,x*"),
    "(member=uid=dana\\5c,x\\2a,ou=people,dc=example,dc=org)",
  );
  assert.equal(
    fillFilterPattern("(&(objectClass=person)(uid=%s))", "a,b"),
    "(&(objectClass=person)(uid=a,b))",
  );
  assert.equal(
    fillFilterPattern("(&(cn=x)(member=uid=%s,dc=org))", "a,b"),
    "(&(cn=x)(member=uid=a\\5c,b,dc=org))",
  );
  assert.equal(fillFilterPattern("uid=%s%%", "a"), "(uid=a%)");
});

Deno.test("fillDnPattern() escapes the user name for a DN", () => {
  assert.equal(
    fillDnPattern("uid=%s,ou=people,dc=example,dc=org", "admin,ou=x"),
    "uid=admin\\,ou\\=x,ou=people,dc=example,dc=org",
  );
});

Deno.test("patternProblem() wants %s and only %s or %%", () => {
  assert.equal(patternProblem("uid=%s"), undefined);
  assert.equal(patternProblem("uid=%s,o=100%%"), undefined);
  assert.match(patternProblem("uid=x") ?? "", /must contain %s/);
  assert.match(patternProblem("uid=%%s") ?? "", /must contain %s/);
  assert.match(patternProblem("uid=%d") ?? "", /unsupported/);
});

Deno.test("normalizeDn() compares DNs regardless of case, spacing and escape style", () => {
  const canonical = "cn=ops,ou=groups,dc=example,dc=org";
  assert.equal(normalizeDn("CN=Ops, OU=Groups, DC=example, DC=org"), canonical);
  assert.equal(normalizeDn("cn = ops ,ou=groups;dc=example,dc=org"), canonical);
  assert.equal(normalizeDn("uid=dana\\2Cx,dc=org"), normalizeDn("UID=Dana\\,X,dc=org"));
  assert.equal(normalizeDn("cn=b+uid=a,dc=org"), normalizeDn("uid=a+cn=b,dc=org"));
  assert.equal(normalizeDn("cn=J\\C3\\BCrgen,dc=org"), "cn=jürgen,dc=org");
  assert.equal(normalizeDn("cn=a\\ ,dc=org"), "cn=a\\ ,dc=org");
  assert.notEqual(normalizeDn("cn=a\\,b,dc=org"), normalizeDn("cn=a,cn=b,dc=org"));
});
