/**
 * The viewer page's script (see `viewer.ts`), kept as plain browser JavaScript in a
 * string so that the page needs no build step and no asset files. It reads the page's own
 * URL as Server-Sent Events with `fetch`, so that it can send a login and `Last-Event-ID`,
 * and reconnects after the `retry:` hint, resuming after the last event it showed.
 *
 * @module
 */

/** The script, inlined into the page. */
export const VIEWER_SCRIPT = String.raw`
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var MAX_SHOWN = 500;
  var lastId = "", auth = "", user = "", paused = false, held = [], shown = 0;
  var retryMs = 2000, controller = null, restart = false;
  var path = decodeURIComponent(location.pathname);
  $("topics").textContent = path === "/" ? "all public events" : path;

  function setStatus(state, text) {
    var el = $("status");
    el.dataset.state = state;
    el.textContent = text;
  }

  function filterText() { return $("filter").value.trim().toLowerCase(); }

  function show(data) {
    var ev;
    try { ev = JSON.parse(data); } catch (err) { return; }
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
    var pre = document.createElement("pre");
    pre.textContent = JSON.stringify(ev, null, 2);
    li.append(meta, pre);
    li.dataset.text = pre.textContent.toLowerCase();
    var f = filterText();
    li.hidden = f !== "" && li.dataset.text.indexOf(f) < 0;
    var list = $("events");
    list.prepend(li);
    while (list.children.length > MAX_SHOWN) list.lastElementChild.remove();
    $("count").textContent = String(++shown);
  }

  function onStatus(data) {
    var s = JSON.parse(data), notes = [];
    if (s.cursor_unknown) notes.push("The server does not know the last event seen: events may have been missed.");
    if (s.backlog_truncated) notes.push("Some events since the last one seen are no longer kept: events were missed.");
    $("notice").textContent = notes.join(" ");
  }

  function dispatch(type, data, id) {
    if (type === "stream") return onStatus(data);
    if (id) lastId = id;
    if (paused) held.push(data); else show(data);
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

  async function connect() {
    for (;;) {
      controller = new AbortController();
      restart = false;
      var headers = { Accept: "text/event-stream" };
      if (lastId) headers["Last-Event-ID"] = lastId;
      if (auth) headers.Authorization = auth;
      setStatus("connecting", "connecting");
      try {
        var res = await fetch(location.pathname + location.search,
          { headers: headers, signal: controller.signal, cache: "no-store" });
        if (res.status === 401 && auth) {
          $("loginerror").textContent = "Login refused: check the user name and password.";
          auth = "";
          res.body && res.body.cancel();
          continue;
        }
        if (!res.ok) throw new Error("answered " + res.status);
        setStatus("live", auth ? "live, logged in as " + user : "live");
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
    if (!paused) { held.forEach(show); held = []; }
  });
  $("clear").addEventListener("click", function () {
    $("events").replaceChildren();
    shown = 0;
    $("count").textContent = "0";
  });
  $("filter").addEventListener("input", function () {
    var f = filterText();
    Array.prototype.forEach.call($("events").children, function (li) {
      li.hidden = f !== "" && li.dataset.text.indexOf(f) < 0;
    });
  });
  $("login").addEventListener("click", function () {
    user = $("user").value;
    var bytes = new TextEncoder().encode(user + ":" + $("password").value);
    auth = "Basic " + btoa(String.fromCharCode.apply(null, Array.from(bytes)));
    $("password").value = "";
    $("loginerror").textContent = "";
    reconnectNow();
  });
  $("logout").addEventListener("click", function () {
    auth = "";
    user = "";
    reconnectNow();
  });
  connect();
})();
`;
