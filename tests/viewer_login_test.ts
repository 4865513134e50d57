/**
 * The viewer page in a real headless Chromium (tests/fixtures/browser.ts), as a person uses
 * it: logging in with the keyboard to see the private events the ACL grants, and on a
 * phone, checked for sideways scrolling, control names, keyboard reach and contrast.
 * Screenshots are kept in tests/artifacts/.
 */

import assert from "node:assert/strict";
import { Browser, type ContextOptions } from "./fixtures/browser.ts";
import { contrastAudit, type ContrastItem } from "./fixtures/contrast.ts";
import { ENGINES, publish, startServer, withEngine } from "./helpers.ts";

const ARTIFACTS = new URL("./artifacts/", import.meta.url).pathname;

/** alice may read what is published under /private/git/secret/…, with this password. */
const ACL = { alice: { password: "s3cret-pw", acl: { repo: ["git", "secret"] } } };

/** A server keeping history, so the page can be shown what came before the login. */
const CONFIG = { server: { backlog: { size: 100 } } };

const DESKTOP: ContextOptions = { viewport: { width: 1000, height: 800 } };
const PHONE: ContextOptions = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
};

/** The `n` of each event the page lists, top (newest) first. */
const SHOWN =
  "[...document.querySelectorAll('#events li pre')].map((p) => JSON.parse(p.textContent).n)";
const STATUS = "document.getElementById('status').textContent";
const LOGIN_ERROR = "document.getElementById('loginerror').textContent";

/** Everything a user can operate, that is on screen (inside a closed `details` it is not). */
const CONTROLS = "input, button, select, textarea, summary, a[href]";
const VISIBLE_CONTROLS = `[...document.querySelectorAll(${
  JSON.stringify(CONTROLS)
})].filter((el) => el.checkVisibility())`;
/** How the element with the focus is named in this test: its id, else its tag. */
const FOCUSED = "document.activeElement.id || document.activeElement.localName";

/** Publishes and checks the server took it. */
async function put(url: string, body: Record<string, unknown>): Promise<void> {
  assert.equal(await publish(url, body), 202, `publish to ${url}`);
}

/** Waits until the page lists an event with this `n`. */
function untilShown(browser: Browser, n: number): Promise<void> {
  return browser.until(`${SHOWN}.includes(${n})`);
}

/** Gives `selector` the focus, as a click or a screen reader's jump would. */
async function focus(browser: Browser, selector: string): Promise<void> {
  await browser.eval(`document.querySelector(${JSON.stringify(selector)}).focus()`);
  assert.equal(
    await browser.eval(
      `document.activeElement === document.querySelector(${JSON.stringify(selector)})`,
    ),
    true,
    `${selector} takes the focus`,
  );
}

/**
 * The page's console errors, but for Chromium's note of each 401 answer: a refused login
 * is one, and the page shows it in its own words.
 */
async function pageErrors(browser: Browser): Promise<string[]> {
  return (await browser.errors()).filter((e) => !/status of 401 \(Unauthorized\)/.test(e));
}

/** Opens the login form with the keyboard: Enter on its summary. */
async function openLogin(browser: Browser): Promise<void> {
  await focus(browser, "summary");
  await browser.press("Enter");
  assert.equal(await browser.eval("document.querySelector('details').open"), true);
}

for (const engine of ENGINES) {
  Deno.test(`the viewer: a login with the keyboard shows the private events the ACL grants, once each, in Chromium [${engine}]`, async () => {
    await using srv = await startServer(withEngine(CONFIG, engine), ACL);
    await using browser = await Browser.launch();
    // From before the page opened: the page starts live, and a login does not go back
    // past where it started.
    await put(`${srv.url}/private/git/secret`, { n: 0 });
    await browser.goto(`${srv.url}/git`, DESKTOP);
    await browser.until(`${STATUS} === 'live'`);

    // Before login: the private event is skipped, the public one after it is shown.
    await put(`${srv.url}/private/git/secret`, { n: 1 });
    await put(`${srv.url}/git/open`, { n: 2 });
    await untilShown(browser, 2);
    assert.deepEqual(await browser.eval(SHOWN), [2]);

    // A wrong password: an error on the page, no dialog of the browser's own, and the
    // page goes on showing public events only.
    await openLogin(browser);
    await focus(browser, "#user");
    await browser.type("alice");
    await browser.press("Tab");
    assert.equal(await browser.eval(FOCUSED), "password", "Tab goes from user to password");
    await browser.type("wrong");
    await browser.press("Enter");
    await browser.until(`${LOGIN_ERROR} !== ''`);
    assert.match(String(await browser.eval(LOGIN_ERROR)), /refused/);
    assert.deepEqual(await browser.loginPrompts(), [], "the browser asks for no login itself");
    await browser.until(`${STATUS} === 'live'`);
    await put(`${srv.url}/private/git/secret`, { n: 3 });
    await put(`${srv.url}/git/open`, { n: 4 });
    await untilShown(browser, 4);
    assert.deepEqual(await browser.eval(SHOWN), [4, 2]);

    // The right password, this time with the button, reached with Tab and pressed with
    // Space. The private events since the page opened (not 0, from before) are added in
    // their place, and nothing shown already comes again.
    await focus(browser, "#password");
    await browser.type(ACL.alice.password);
    await browser.press("Tab");
    assert.equal(await browser.eval(FOCUSED), "login", "Tab goes from password to the button");
    await browser.press("Space");
    await browser.until(`${STATUS} === 'live, logged in as alice'`);
    await untilShown(browser, 3);
    assert.deepEqual(await browser.eval(SHOWN), [4, 3, 2, 1]);
    assert.equal(await browser.eval(LOGIN_ERROR), "", "the error is gone");
    assert.equal(await browser.eval("document.getElementById('password').value"), "");

    // Live after login: a private event, then a public one, each once.
    await put(`${srv.url}/private/git/secret`, { n: 5 });
    await put(`${srv.url}/git/open`, { n: 6 });
    await untilShown(browser, 6);
    assert.deepEqual(await browser.eval(SHOWN), [6, 5, 4, 3, 2, 1]);
    assert.equal(await browser.eval("document.getElementById('count').textContent"), "6");
    assert.deepEqual(
      await browser.eval(
        "[...document.querySelectorAll('#events li')].map((li) => li.classList.contains('private'))",
      ),
      [false, true, false, true, false, true],
      "private events are marked as such",
    );
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await browser.screenshot(`${ARTIFACTS}viewer-login-${engine}.png`);

    // Logging out takes the private events off the screen and goes on with public ones.
    await focus(browser, "#logout");
    await browser.press("Enter");
    await browser.until(`${STATUS} === 'live'`);
    assert.deepEqual(await browser.eval(SHOWN), [6, 4, 2]);
    await put(`${srv.url}/private/git/secret`, { n: 7 });
    await put(`${srv.url}/git/open`, { n: 8 });
    await untilShown(browser, 8);
    assert.deepEqual(await browser.eval(SHOWN), [8, 6, 4, 2]);

    assert.deepEqual(await browser.loginPrompts(), []);
    assert.deepEqual(await pageErrors(browser), [], "no script error, no CSP violation");
  });

  Deno.test(`the viewer on a phone: no sideways scrolling, named controls reachable with Tab, WCAG AA contrast, in Chromium [${engine}]`, async () => {
    await using srv = await startServer(withEngine(CONFIG, engine), ACL);
    await using browser = await Browser.launch();
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await browser.goto(`${srv.url}/git`, PHONE);
    await browser.until(`${STATUS} === 'live'`);
    assert.equal(await browser.eval("innerWidth"), 390, "the page is laid out for the phone");

    // Events with long words, as real ones have (hashes, URLs, topic names).
    const topic = "averylongrepositorynamewithnoplacetobreakthelineatall";
    await put(`${srv.url}/git/${topic}`, {
      n: 1,
      commit: "9f".repeat(20),
      url: `https://example.org/${topic}/commits/${"9f".repeat(20)}?view=diff&context=full`,
    });
    await put(`${srv.url}/git/open`, { n: 2, author: "bob", message: "Fix the build" });
    await untilShown(browser, 1);
    await untilShown(browser, 2);

    // Logged in, with a private event on screen; then a refused login, so its error is
    // on screen too (the login before it stays), and a pressed Pause button.
    await put(`${srv.url}/private/git/secret`, { n: 3, note: "for alice" });
    await openLogin(browser);
    await focus(browser, "#user");
    await browser.type("alice");
    await focus(browser, "#password");
    await browser.type(ACL.alice.password);
    await browser.press("Enter");
    await untilShown(browser, 3);
    await browser.type("wrong");
    await browser.press("Enter");
    await browser.until(`${LOGIN_ERROR} !== ''`);
    await browser.until(`${STATUS} === 'live, logged in as alice'`);
    assert.deepEqual(await browser.eval(SHOWN), [3, 2, 1]);
    await focus(browser, "#pause");
    await browser.press("Enter");
    assert.equal(await browser.eval("document.getElementById('pause').ariaPressed"), "true");
    await browser.eval("document.activeElement.blur()");

    const width = await browser.eval(
      "({ scroll: document.documentElement.scrollWidth, inner: innerWidth })",
    ) as { scroll: number; inner: number };
    // A phone lays a page that is too wide out wider and shows it zoomed out, so
    // innerWidth grows with the content: it has to stay the phone's width too.
    assert.ok(width.scroll <= width.inner, `no sideways scrolling: ${JSON.stringify(width)}`);
    assert.equal(width.inner, PHONE.viewport!.width, "not zoomed out to fit something wide");

    // Tab reaches every control on screen, in order, and shows where the focus is. It
    // starts from the heading, which comes before them all.
    const controls = await browser.eval(
      `${VISIBLE_CONTROLS}.map((el) => el.id || el.localName)`,
    ) as string[];
    assert.ok(controls.length >= 7, `the controls: ${controls.join(" ")}`);
    await browser.eval("document.querySelector('h1').tabIndex = -1");
    await focus(browser, "h1");
    const reached: string[] = [];
    for (let i = 0; i < controls.length; i++) {
      await browser.press("Tab");
      reached.push(await browser.eval(FOCUSED) as string);
      const outline = await browser.eval("getComputedStyle(document.activeElement).outlineStyle");
      assert.notEqual(outline, "none", `${reached.at(-1)} shows the focus`);
    }
    assert.deepEqual(reached, controls, "Tab goes through every control in reading order");

    // Each of them has a name in Chromium's accessibility tree, as a screen reader reads it.
    const names = await browser.accessibleNames(controls.map((id) => `#${id}`).join(", "));
    assert.equal(names.length, controls.length, "every control has an id");
    for (const { element, role, name } of names) {
      assert.ok(name.trim() !== "", `${element} (${role}) has an accessible name`);
    }

    // Big enough to hit with a finger: WCAG 2.2's 24 × 24 CSS pixels at least.
    const small = await browser.eval(
      `${VISIBLE_CONTROLS}.map((el) => [el.id || el.localName, el.getBoundingClientRect()])
        .filter(([, r]) => r.width < 24 || r.height < 24)
        .map(([id, r]) => id + " " + Math.round(r.width) + "x" + Math.round(r.height))`,
    );
    assert.deepEqual(small, [], "touch targets of 24 × 24 px or more");

    // Contrast of what there is to read, in the light and the dark scheme.
    await browser.eval("document.activeElement.blur(), scrollTo(0, 0)");
    // The first selector an element matches names it, so the general ones come last.
    const texts = [
      "h1",
      "#status",
      "#loginerror",
      "summary",
      "label",
      "button",
      "input",
      "#events .meta > *",
      "#events pre",
      "header p",
    ];
    for (const scheme of ["light", "dark"] as const) {
      await browser.colorScheme(scheme);
      const items = await browser.eval(contrastAudit(texts)) as ContrastItem[];
      const measured = [
        "#status",
        "#loginerror",
        "button",
        "label",
        "#events pre",
        ".meta",
        '"private"', // the badge
      ];
      for (const must of measured) {
        assert.ok(items.some((i) => i.what.includes(must)), `${must} is measured (${scheme})`);
      }
      const poor = items.filter((i) => i.ratio < (i.kind === "text" ? 4.5 : 3));
      assert.deepEqual(poor, [], `contrast in the ${scheme} scheme`);
      const file = scheme === "light" ? "viewer-phone" : "viewer-phone-dark";
      await browser.screenshot(`${ARTIFACTS}${file}-${engine}.png`);
    }
    assert.deepEqual(await pageErrors(browser), [], "no script error, no CSP violation");
  });
}
