/**
 * The live viewer: the page a browser gets when it navigates to a topic URL (`Accept:
 * text/html`; `server.viewer: false` turns it off). One self-contained document, with its
 * style and script inline and no external assets, so it ships inside the bundle and the
 * compiled binary. It reads the same URL as Server-Sent Events through `fetch` (which,
 * unlike `EventSource`, can send a login) and reconnects with `Last-Event-ID`.
 *
 * @module
 */

import { VIEWER_SCRIPT } from "./viewer_script.ts";

/** The viewer's response headers: it varies by `Accept`, and loads nothing from elsewhere. */
export const VIEWER_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "Content-Type": "text/html; charset=utf-8",
  "Cache-Control": "no-cache",
  "Vary": "Accept",
  "X-Content-Type-Options": "nosniff",
  "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; " +
    "style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'",
});

const STYLE = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1a1a1a; --muted: #555; --line: #ccc;
  --card: #f6f7f9; --accent: #0b5cad; --ok: #126b2e; --bad: #a1141a; }
@media (prefers-color-scheme: dark) { :root { --bg: #111418; --fg: #eceff3; --muted: #b4bcc6;
  --line: #3a4048; --card: #1b2027; --accent: #7ab8ff; --ok: #6fdc8c; --bad: #ff8f8f; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, sans-serif; background: var(--bg); color: var(--fg); }
header, main { max-width: 60rem; margin: 0 auto; padding: 0.75rem 1rem; }
h1 { font-size: 1.25rem; margin: 0 0 0.25rem; overflow-wrap: anywhere; }
.bar { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: end; margin-top: 0.5rem; }
label { display: flex; flex-direction: column; font-size: 0.85rem; color: var(--muted); }
/* Fields take the room left on their line, so on a phone they fill it instead of leaving a gap. */
.bar label { flex: 1 1 12rem; max-width: 24rem; }
.bar input { width: 100%; }
input, button { font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--muted);
  border-radius: 0.35rem; padding: 0.4rem 0.6rem; min-height: 2.5rem; }
::placeholder { color: var(--muted); opacity: 1; }
button { cursor: pointer; background: var(--card); }
button[aria-pressed="true"] { background: var(--accent); color: var(--bg); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
#status { font-weight: 600; }
#status[data-state="live"] { color: var(--ok); }
#status[data-state="down"], .error { color: var(--bad); }
#notice:empty, #loginerror:empty { display: none; }
summary { cursor: pointer; padding: 0.5rem 0; margin-top: 0.25rem; }
form { margin: 0; }
fieldset { border: 1px solid var(--line); border-radius: 0.35rem; margin: 0.5rem 0 0; padding: 0.5rem; }
ol { list-style: none; margin: 0; padding: 0; }
li { background: var(--card); border: 1px solid var(--line); border-radius: 0.35rem;
  margin: 0.5rem 0; padding: 0.5rem 0.75rem; }
.meta { display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; font-size: 0.85rem; color: var(--muted); }
/* A topic or path is one long word at times: break it rather than widen the page. */
.meta > * { min-width: 0; overflow-wrap: anywhere; }
.badge { color: var(--accent); border: 1px solid currentColor; border-radius: 0.25rem; padding: 0 0.35rem; }
li.private { border-left: 0.25rem solid var(--accent); }
pre { margin: 0.35rem 0 0; white-space: pre-wrap; overflow-wrap: anywhere;
  font: 0.85rem/1.4 ui-monospace, monospace; }
.sr { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; border: 0;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

const BODY = `
<header>
  <h1>Live events: <span id="topics"></span></h1>
  <p>Status: <span id="status" role="status" aria-live="polite" data-state="connecting">connecting</span>
    · <span id="count">0</span> <span id="unit">events</span></p>
  <p id="notice" role="alert"></p>
  <div class="bar">
    <button id="pause" type="button" aria-pressed="false">Pause</button>
    <button id="clear" type="button">Clear</button>
    <label>Filter <input id="filter" type="search" placeholder="text in the event"></label>
  </div>
  <details>
    <summary id="logintoggle">Log in to see private events</summary>
    <form id="loginform">
      <fieldset>
        <legend class="sr">Login</legend>
        <div class="bar">
          <label>User <input id="user" name="user" autocomplete="username" autocapitalize="none"
            spellcheck="false" required></label>
          <label>Password <input id="password" name="password" type="password"
            autocomplete="current-password" required></label>
          <button id="login" type="submit">Log in</button>
          <button id="logout" type="button" hidden>Log out</button>
        </div>
        <p id="loginerror" class="error" role="alert"></p>
      </fieldset>
    </form>
  </details>
</header>
<main>
  <h2 class="sr">Events, newest first</h2>
  <ol id="events" aria-live="off"></ol>
</main>
`;

/** The page; one string, built once at start-up. */
export const VIEWER_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>DenoPubSub live viewer</title>
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${VIEWER_SCRIPT}</script>
</body>
</html>
`;
