/**
 * The viewer page's script (see `viewer.ts`), kept as plain browser JavaScript in a
 * string so that the page needs no build step and no asset files. It reads the page's own
 * URL as Server-Sent Events with `fetch`, so that it can send a login and `Last-Event-ID`,
 * and reconnects after the `retry:` hint, resuming after the last event it showed.
 *
 * A login re-reads the stream from where the page started (the newest event when it
 * opened, or the page's own `?since=`/`?cursor=`), so the private events published since
 * then appear in their place, as if the user had been logged in from the start; events
 * are kept by id, so none appears twice. Logging out takes private events off the screen.
 *
 * @module
 */

/** The script, inlined into the page. */
export const VIEWER_SCRIPT = String.raw`
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var MAX_SHOWN = 500;
  // The id of the last event received: where a reconnection resumes.
  var lastId = "";
  // Where the page started reading, as request headers; a login re-reads from there.
  // Null until the first stream said what was newest then.
  var start = null;
  // Headers that replace Last-Event-ID on the next connection (a login's re-read).
  var from = null;
  // The accepted login, and one being tried: { user, auth }.
  var login = null, trying = null;
  // Events on the page (and held while paused) by id, so a re-read shows none twice.
  var byId = new Map();
  // Clear hides what came before: events up to this id are not shown again.
  var floor = "";
  var paused = false, held = [], count = 0;
  var retryMs = 2000, controller = null, restart = false, afterLogin = false;
  var query = new URLSearchParams(location.search);
  var path = decodeURIComponent(location.pathname);
  $("topics").textContent = path === "/" ? "all public events" : path;

  function setStatus(state, text) {
    var el = $("status");
    el.dataset.state = state;
    el.textContent = text;
  }

  function setCount(n) {
    count = n;
    $("count").textContent = String(n);
    $("unit").textContent = n === 1 ? "event" : "events";
  }

  function filterText() { return $("filter").value.trim().toLowerCase(); }

  // The server marks nothing else: a private event is one published under /private/.
  function isPrivate(ev) {
    return String(ev.pubsub_path || "").split("/").filter(Boolean)[0] === "private";
  }

  function render(ev) {
    var li = document.createElement("li");
    var meta = document.createElement("div");
    meta.className = "meta";
    var time = document.createElement("time");
    var at = typeof ev.pubsub_timestamp === "number" ? new Date(ev.pubsub_timestamp * 1000) : new Date();
    time.dateTime = at.toISOString();
    time.textContent = at.toLocaleString();
    var topics = document.createElement("span");
    topics.textContent = "topics: " + (Array.isArray(ev.pubsub_topics) ? ev.pubsub_topics.join(", ") : "");
    var where = document.createElement("span");
    where.textContent = ev.pubsub_path || "";
    meta.append(time, topics, where);
    if (isPrivate(ev)) {
      li.className = "private";
      var badge = document.createElement("strong");
      badge.className = "badge";
      badge.textContent = "private";
      meta.prepend(badge);
    }
    var pre = document.createElement("pre");
    pre.textContent = JSON.stringify(ev, null, 2);
    li.append(meta, pre);
    li.dataset.text = pre.textContent.toLowerCase();
    var f = filterText();
    li.hidden = f !== "" && li.dataset.text.indexOf(f) < 0;
    return li;
  }

  // Puts the event in its place, newest first: ids (UUIDv7 cursors) sort by time, and an
  // event a login re-read brings can be older than those shown.
  function show(ev, id) {
    var li = render(ev);
    var list = $("events");
    var before = list.firstElementChild;
    if (id) {
      li.dataset.id = id;
      while (before && before.dataset.id > id) before = before.nextElementSibling;
      byId.set(id, li);
    }
    list.insertBefore(li, before);
    while (list.children.length > MAX_SHOWN) {
      var last = list.lastElementChild;
      byId.delete(last.dataset.id);
      last.remove();
    }
    if (li.isConnected) setCount(count + 1);
  }

  function accept(data, id) {
    var ev;
    try { ev = JSON.parse(data); } catch (err) { return; }
    if (ev === null || typeof ev !== "object") return;
    if (id && (byId.has(id) || (floor && id <= floor))) return;
    if (!paused) return show(ev, id);
    held.push({ ev: ev, id: id });
    if (id) byId.set(id, null);
  }

  function onStatus(data) {
    var s = JSON.parse(data), notes = [];
    if (start === null) {
      // Nothing newest yet means everything the server keeps came after the page opened.
      start = query.has("cursor") || query.has("since") ? {}
        : s.newest_cursor ? { "Last-Event-ID": s.newest_cursor } : { "X-Fetch-Since": "0" };
    }
    if (afterLogin) {
      if (s.cursor_unknown || s.backlog_truncated) notes.push("Events from before the login are no longer all kept by the server: some private ones cannot be shown.");
    } else {
      if (s.cursor_unknown) notes.push("The server does not know the last event seen: events may have been missed.");
      if (s.backlog_truncated) notes.push("Some events since the last one seen are no longer kept: events were missed.");
    }
    $("notice").textContent = notes.join(" ");
  }

  function dispatch(type, data, id) {
    if (type === "stream") return onStatus(data);
    if (id) lastId = id;
    accept(data, id);
  }

  async function read(body) {
    var reader = body.pipeThrough(new TextDecoderStream()).getReader();
    var buf = "", type = "", data = [], id = "";
    for (;;) {
      var next = await reader.read();
      if (next.done) return;
      buf += next.value;
      var nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        var line = buf.slice(0, nl).replace(/\r$/, "");
        buf = buf.slice(nl + 1);
        if (line === "") {
          if (data.length > 0) dispatch(type, data.join("\n"), id);
          type = ""; data = []; id = "";
          continue;
        }
        if (line[0] === ":") continue;
        var colon = line.indexOf(":");
        var field = colon < 0 ? line : line.slice(0, colon);
        var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(value);
        else if (field === "event") type = value;
        else if (field === "id") id = value;
        else if (field === "retry" && /^\d+$/.test(value)) retryMs = Number(value);
      }
    }
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  // Takes private events off the page (and out of what is held), on logout.
  function dropPrivate() {
    Array.prototype.slice.call($("events").querySelectorAll("li.private")).forEach(function (li) {
      byId.delete(li.dataset.id);
      li.remove();
      setCount(count - 1);
    });
    held = held.filter(function (h) {
      if (!isPrivate(h.ev)) return true;
      byId.delete(h.id);
      return false;
    });
  }

  function showLogin() {
    $("logout").hidden = login === null;
    $("logintoggle").textContent = login ? "Logged in as " + login.user : "Log in to see private events";
  }

  async function connect() {
    for (;;) {
      controller = new AbortController();
      restart = false;
      var attempt = trying || login;
      var headers = { Accept: "text/event-stream" };
      if (from) Object.assign(headers, from);
      else if (lastId) headers["Last-Event-ID"] = lastId;
      if (attempt) headers.Authorization = attempt.auth;
      setStatus("connecting", trying ? "logging in" : "connecting");
      try {
        // credentials "omit": a 401 then comes back to this script instead of making the
        // browser ask for a login in its own dialog; the Authorization header still goes.
        var res = await fetch(location.pathname + location.search, { headers: headers,
          signal: controller.signal, cache: "no-store", credentials: "omit" });
        if (res.status === 401 && attempt) {
          if (res.body) res.body.cancel().catch(function () {});
          from = null;
          if (attempt === trying) {
            trying = null;
            $("loginerror").textContent = "Login refused: check the user name and password.";
          } else {
            // The server no longer takes it (its ACL was reloaded): public events only.
            login = null;
            dropPrivate();
            $("loginerror").textContent = "The login is no longer accepted: showing public events only.";
          }
          showLogin();
          continue;
        }
        if (!res.ok) throw new Error("answered " + res.status);
        if (trying && attempt === trying) { login = trying; trying = null; }
        afterLogin = from !== null;
        from = null;
        showLogin();
        setStatus("live", login ? "live, logged in as " + login.user : "live");
        await read(res.body);
      } catch (err) {
        if (restart) continue;
      }
      if (restart) continue;
      setStatus("down", "disconnected, reconnecting");
      await sleep(retryMs);
    }
  }

  function reconnectNow() {
    restart = true;
    if (controller) controller.abort();
  }

  $("pause").addEventListener("click", function () {
    paused = !paused;
    this.setAttribute("aria-pressed", String(paused));
    this.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      var list = held;
      held = [];
      list.forEach(function (h) { if (h.id) byId.delete(h.id); show(h.ev, h.id); });
    }
  });
  $("clear").addEventListener("click", function () {
    var list = $("events");
    var newest = list.firstElementChild ? list.firstElementChild.dataset.id || "" : "";
    [newest, lastId].forEach(function (id) { if (id > floor) floor = id; });
    Array.prototype.forEach.call(list.children, function (li) { byId.delete(li.dataset.id); });
    list.replaceChildren();
    setCount(0);
  });
  $("filter").addEventListener("input", function () {
    var f = filterText();
    Array.prototype.forEach.call($("events").children, function (li) {
      li.hidden = f !== "" && li.dataset.text.indexOf(f) < 0;
    });
  });
  // A form, so that Enter in either field logs in; nothing is ever sent by the form itself.
  $("loginform").addEventListener("submit", function (e) {
    e.preventDefault();
    var user = $("user").value;
    var bytes = new TextEncoder().encode(user + ":" + $("password").value);
    trying = { user: user, auth: "Basic " + btoa(String.fromCharCode.apply(null, Array.from(bytes))) };
    $("password").value = "";
    $("loginerror").textContent = "";
    from = start;
    reconnectNow();
  });
  $("logout").addEventListener("click", function () {
    login = null;
    trying = null;
    from = null;
    dropPrivate();
    $("loginerror").textContent = "";
    showLogin();
    // The button hides itself: give the focus where a next login starts.
    $("user").focus();
    reconnectNow();
  });
  showLogin();
  connect();
})();
`;
