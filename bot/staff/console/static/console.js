// The console's live parts: the queue and a conversation refresh themselves from server-sent
// events; canned replies are inserted into the reply box. Everything else is plain forms, so
// the console works (without live updates) if this script does not run.
(function () {
  "use strict";

  var baseTitle = document.title;

  function chime() {
    // A short tone made here, so no sound file and no outside request is needed. Browsers
    // allow it once the counselor has interacted with the page.
    try {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) { return; }
      var audio = chime.context || (chime.context = new Context());
      var tone = audio.createOscillator();
      var volume = audio.createGain();
      tone.frequency.value = 880;
      volume.gain.value = 0.15;
      tone.connect(volume);
      volume.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.25);
    } catch (ignored) { /* no sound is better than a broken page */ }
  }

  function badge(waiting) {
    document.title = (waiting > 0 ? "(" + waiting + ") " : "") + baseTitle;
  }

  function replaceFrom(url, target, onDone) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null || html === undefined) { return; }
        var holder = document.createElement("template");
        holder.innerHTML = html;  // server-rendered and escaped by the template engine
        onDone(holder.content);
      })
      .catch(function () { /* the next event tries again */ });
  }

  function liveState(text) {
    var state = document.getElementById("live-state");
    if (state) { state.textContent = text; }
  }

  function watchQueue(table) {
    var rows = table.querySelector("tbody");
    badge(Number(rows.getAttribute("data-waiting") || 0));
    var source = new EventSource(table.getAttribute("data-live-queue"));
    source.addEventListener("open", function () { liveState("Updates live."); });
    source.addEventListener("error", function () {
      // Closed for good (signed out, or idle too long): reload, which shows the sign-in page.
      if (source.readyState === EventSource.CLOSED) { window.location.reload(); return; }
      liveState("Reconnecting to live updates…");
    });
    source.addEventListener("queue", function (event) {
      var arrived = Number(event.data || 0);
      replaceFrom(table.getAttribute("data-rows"), table, function (fragment) {
        var fresh = fragment.querySelector("tbody");
        if (!fresh) { return; }
        table.replaceChild(fresh, table.querySelector("tbody"));
        badge(Number(fresh.getAttribute("data-waiting") || 0));
        if (arrived > 0) {
          chime();
          liveState(arrived === 1 ? "A new handoff arrived." : arrived + " new handoffs arrived.");
        }
      });
    });
  }

  function watchConversation(log) {
    var source = new EventSource(log.getAttribute("data-live"));
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) { window.location.reload(); }
    });
    function refresh() {
      replaceFrom(log.getAttribute("data-src"), log, function (fragment) {
        var stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 40;
        log.replaceChildren(fragment);
        if (stick) { log.scrollTop = log.scrollHeight; }
      });
    }
    source.addEventListener("transcript", refresh);
    source.addEventListener("handoff", function () {
      var changed = document.getElementById("handoff-changed");
      if (changed) { changed.hidden = false; }
    });
    log.scrollTop = log.scrollHeight;
  }

  function cannedReplies() {
    var button = document.getElementById("insert-canned");
    var choice = document.getElementById("canned");
    var box = document.getElementById("reply-text");
    if (!button || !choice || !box) { return; }
    button.addEventListener("click", function () {
      var option = choice.options[choice.selectedIndex];
      if (!option) { return; }
      // Added after what is already typed, never in its place.
      var body = option.getAttribute("data-body") || "";
      box.value = box.value.trim() ? box.value.replace(/\s+$/, "") + "\n\n" + body : body;
      box.focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var queue = document.querySelector("[data-live-queue]");
    if (queue) { watchQueue(queue); }
    var log = document.getElementById("transcript");
    if (log) { watchConversation(log); }
    cannedReplies();
  });
})();
