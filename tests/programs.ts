/**
 * The programs that tests drive for real, and the Debian package each comes from. A
 * fixture asks for its programs before spawning them, so that a machine without one fails
 * the test with one line naming the package to install, not a stack trace from a spawn.
 *
 * @module
 */

/** Program name → the Debian package that installs it. */
const PACKAGES: Readonly<Record<string, string>> = {
  apache2: "apache2",
  chromium: "chromium",
  curl: "curl",
  ldapsearch: "ldap-utils",
  nginx: "nginx",
  openssl: "openssl",
  python3: "python3",
  "redis-server": "redis-server",
  slapadd: "slapd",
  slapd: "slapd",
};

/** Python module → the Debian package that installs it for `/usr/bin/python3`. */
const PYTHON_MODULES: Readonly<Record<string, string>> = {
  aiohttp: "python3-aiohttp",
  requests: "python3-requests",
};

/** Debian's interpreter: a `python3` earlier on PATH may not see Debian's modules. */
export const PYTHON = "/usr/bin/python3";

/** A program a test needs is not installed; the message names the package. */
export class MissingProgram extends Error {
  override name = "MissingProgram";

  constructor(what: string, pkg: string) {
    super(`${what} is not installed; run: apt-get install ${pkg}`);
    // The message says all there is to say; a stack would only point here.
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** Debian installs servers in /usr/sbin, which a non-root PATH often lacks. */
function searchPath(): string[] {
  const path = (Deno.env.get("PATH") ?? "").split(":").filter((dir) => dir !== "");
  return [...path, "/usr/sbin", "/sbin", "/usr/local/sbin"];
}

function executable(file: string): boolean {
  try {
    const info = Deno.statSync(file);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * The full path of a program the tests drive.
 *
 * @throws {MissingProgram} naming the Debian package when it is not installed.
 * @example
 * ```ts ignore
 * const slapd = requireProgram("slapd");
 * new Deno.Command(slapd, { args }).spawn();
 * ```
 */
export function requireProgram(name: string): string {
  const pkg = PACKAGES[name];
  if (!pkg) throw new Error(`tests/programs.ts: no Debian package known for ${name}`);
  const found = searchPath().map((dir) => `${dir}/${name}`).find(executable);
  if (!found) throw new MissingProgram(name, pkg);
  return found;
}

/**
 * Debian's Python interpreter, once it has shown that it can import `modules`.
 *
 * @throws {MissingProgram} naming the Debian package of the first module it lacks.
 */
export async function requirePython(...modules: string[]): Promise<string> {
  if (!executable(PYTHON)) throw new MissingProgram(PYTHON, "python3");
  for (const module of modules) {
    const pkg = PYTHON_MODULES[module];
    if (!pkg) throw new Error(`tests/programs.ts: no Debian package known for ${module}`);
    const { success } = await new Deno.Command(PYTHON, {
      args: ["-c", `import ${module}`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    if (!success) throw new MissingProgram(`the Python module ${module}`, pkg);
  }
  return PYTHON;
}
