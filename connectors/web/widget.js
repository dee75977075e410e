// The admissions chat widget. Served inside connectors/web/__init__.py's bundle, which defines
// `io` (the vendored socket.io client) and WIDGET_CONFIG (words, disclosure, styles) first.
//
// A center adds it with one tag:
//   <script src="https://assistant.example.org/webhooks/website/widget.js" defer
//           data-accent="#1d5c87" data-launcher-text="Chat with us"></script>
// Optional: data-server (default: where the script came from), data-exit-url (where quick
// exit goes), data-lang (default: the page's <html lang>).
//
// The browser keeps only the conversation id, in localStorage; no cookies, nothing else.
var script = document.currentScript;
var data = (script && script.dataset) || {};
var SERVER = (data.server || (script ? new URL(script.src, location.href).origin : location.origin))
  .replace(/\/+$/, "");
var STORE_KEY = "admissions-chat-session:" + SERVER;
var EXIT_URL = data.exitUrl || "https://www.google.com/";
var SEND_TIMEOUT_MS = 30000;     // the server answers within its 10 s dialogue budget
var OFFLINE_GIVE_UP_MS = 60000;  // a message waiting this long for the connection is not sent
var STATUS_POLL_MS = 30000;      // how often a waiting visitor's place in line is refreshed
var ESC_TWICE_MS = 1000;

var language = pickLanguage();
var copy = WIDGET_CONFIG.copy[language];

function pickLanguage() {
  var wanted = (data.lang || document.documentElement.lang || "en").toLowerCase().split("-")[0];
  return WIDGET_CONFIG.copy[wanted] ? wanted : "en";
}

function words(key, values) {
  return String(copy[key] || "").replace(/\{(\w+)\}/g, function (whole, name) {
    return values && values[name] !== undefined ? String(values[name]) : whole;
  });
}

function storedSession() {
  try { return window.localStorage.getItem(STORE_KEY); } catch (e) { return null; }
}

function storeSession(id) {
  try {
    if (id) { window.localStorage.setItem(STORE_KEY, id); }
    else { window.localStorage.removeItem(STORE_KEY); }
  } catch (e) { /* storage off: the chat works, it just does not survive a reload */ }
}

// --- colours ---------------------------------------------------------------------------------
function validColour(value) {
  return /^#(?:[0-9a-fA-F]{3}){1,2}$/.test(value || "") ? value : null;
}

function readableOn(hex) {
  var h = hex.length === 4 ? hex.replace(/#(.)(.)(.)/, "#$1$1$2$2$3$3") : hex;
  var channel = function (i) {
    var c = parseInt(h.substr(i, 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
  };
  var luminance = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
  return luminance > 0.179 ? "#000" : "#fff";
}

// --- building the DOM ------------------------------------------------------------------------
function el(tag, attributes, children) {
  var node = document.createElement(tag);
  Object.keys(attributes || {}).forEach(function (name) {
    if (name === "text") { node.textContent = attributes[name]; }
    else if (name.slice(0, 2) === "on") { node.addEventListener(name.slice(2), attributes[name]); }
    else { node.setAttribute(name, attributes[name]); }
  });
  (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
  return node;
}

var host = el("div", { id: "admissions-chat-widget" });
var shadow = host.attachShadow({ mode: "open" });
var sheet = null;
if ("adoptedStyleSheets" in Document.prototype && window.CSSStyleSheet) {
  // A constructed style sheet: no <style> element, so a strict page CSP does not block it.
  sheet = new CSSStyleSheet();
  sheet.replaceSync(WIDGET_CONFIG.css);
  shadow.adoptedStyleSheets = [sheet];
} else {
  shadow.appendChild(el("style", { text: WIDGET_CONFIG.css }));
}

var accent = validColour(data.accent) || "#1d5c87";
var root = el("div", { "class": "root", lang: language });
root.style.setProperty("--accent", accent);
root.style.setProperty("--on-accent", readableOn(accent));

var launcherLabel = el("span", { text: data.launcherText || words("launcher") });
var badge = el("span", { "class": "badge", hidden: "" });
var launcher = el("button", { type: "button", "class": "launcher", "aria-expanded": "false",
  "aria-controls": "chat-panel", onclick: openPanel }, [launcherLabel, badge]);

var title = el("h2", { id: "chat-title", text: words("title") });
var exitButton = el("button", { type: "button", "class": "exit", title: words("quick_exit_hint"),
  "aria-describedby": "exit-hint", onclick: quickExit, text: words("quick_exit") });
var exitHint = el("span", { id: "exit-hint", "class": "visually-hidden",
  text: words("quick_exit_hint") });
var closeButton = el("button", { type: "button", "aria-label": words("close"), onclick: closePanel,
  text: "×" });

function crisisLine() {
  // "... Call 911, or call or text 988.": the numbers become links a phone can dial.
  var line = el("p", { "class": "crisis" });
  var text = words("crisis_line");
  var pattern = /(911|988)/g, last = 0, match;
  while ((match = pattern.exec(text)) !== null) {
    line.appendChild(document.createTextNode(text.slice(last, match.index)));
    line.appendChild(el("a", { href: "tel:" + match[1], text: match[1] }));
    last = match.index + match[1].length;
  }
  line.appendChild(document.createTextNode(text.slice(last)));
  return line;
}

var statusLine = el("p", { "class": "status", role: "status" });
var log = el("div", { "class": "log", role: "log", "aria-live": "polite",
  "aria-label": words("conversation_label"), tabindex: "0" });
var typing = el("p", { "class": "typing", hidden: "" }, [
  el("span", { "class": "dots", "aria-hidden": "true" }),
  el("span", { text: " " + words("typing") })]);
var input = el("textarea", { id: "chat-input", rows: "1", maxlength: "1600",
  placeholder: words("message_placeholder"), autocomplete: "off" });
var form = el("form", { onsubmit: onSubmit }, [
  el("label", { "for": "chat-input", "class": "visually-hidden", text: words("message_label") }),
  input,
  el("button", { type: "submit", text: words("send") })]);
var foot = el("div", { "class": "foot" }, [
  el("button", { type: "button", onclick: startOver, text: words("start_over") }),
  el("button", { type: "button", onclick: clearFromDevice, text: words("clear_chat") })]);
var panel = el("section", { id: "chat-panel", "class": "panel", role: "dialog",
  "aria-modal": "false", "aria-labelledby": "chat-title", hidden: "" }, [
  // The header and the 911/988 line stay at the top even when a short window makes the
  // whole panel scroll.
  el("div", { "class": "top" }, [
    el("div", { "class": "head" }, [title, exitButton, closeButton]), crisisLine()]),
  exitHint, statusLine, log, typing, form, foot]);

root.appendChild(launcher);
root.appendChild(panel);
shadow.appendChild(root);

input.addEventListener("keydown", function (event) {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); onSubmit(event); }
});

// --- the conversation on screen --------------------------------------------------------------
var unread = 0;

function isDisclosure(message) {
  // The assistant opens every conversation with the disclosure, which the chat already shows
  // at the top: once is enough.
  return !message.counselor && message.text === WIDGET_CONFIG.disclosure[language];
}

function showMessage(message, options) {
  options = options || {};
  var from = options.from || "assistant";
  var who;
  if (message.counselor) {
    from = "counselor";
    who = words("counselor", { name: message.counselor.name || "",
      role: message.counselor.role || words("counselor_default_role") });
  } else {
    who = from === "visitor" ? words("you") : words("assistant");
  }
  var bubble = el("div", { "class": "msg " + from }, [
    el("span", { "class": "who", text: who }),
    el("p", { text: message.text || "" })]);
  log.appendChild(bubble);
  clearChoices();
  if (message.buttons && message.buttons.length && options.live !== false) {
    showChoices(message.buttons, message.several);
  }
  if (options.unread && panel.hidden) {
    unread += 1;
    badge.textContent = words("new_messages", { count: unread });
    badge.hidden = false;
  }
  scrollToLatest();
  return bubble;
}

var pinnedToLatest = true;
// Our own scrolls do not unpin: their scroll event may arrive after the log has shrunk (the
// status line appearing), which would look like the reader scrolling up, and the latest
// message would then stay half hidden.
var scrolledByUs = false;
log.addEventListener("scroll", function () {
  if (scrolledByUs) { return; }
  pinnedToLatest = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
});
if (window.ResizeObserver) {
  new ResizeObserver(function () { if (pinnedToLatest) { scrollToLatest(); } }).observe(log);
}

function showNote(text) {
  log.appendChild(el("div", { "class": "msg note", text: text }));
  scrollToLatest();
}

function clearChoices() {
  Array.prototype.forEach.call(log.querySelectorAll(".choices"), function (group) {
    group.remove();
  });
}

function afterChoice(event) {
  // From the keyboard, back to the text box; a tap leaves the phone's keyboard closed.
  if (event.detail === 0) { input.focus(); } else { log.focus(); }
}

function showChoices(buttons, several) {
  var group = el("div", { "class": "choices", role: "group",
    "aria-label": words(several ? "several_choices_label" : "choices_label") });
  buttons.forEach(function (button) {
    var choice = el("button", { type: "button", text: button.title });
    if (several) {
      // Picked choices are pressed; "Send my choices" sends their numbers together.
      choice.setAttribute("aria-pressed", "false");
      choice.addEventListener("click", function () {
        var pressed = choice.getAttribute("aria-pressed") === "true";
        choice.setAttribute("aria-pressed", pressed ? "false" : "true");
      });
    } else {
      choice.addEventListener("click", function (event) {
        send(button.payload, button.title);
        afterChoice(event);
      });
    }
    choice.dataset.payload = button.payload;
    group.appendChild(choice);
  });
  if (several) {
    group.appendChild(el("button", { type: "button", "class": "send-choices",
      text: words("send_choices"), onclick: function (event) {
        var picked = Array.prototype.filter.call(group.querySelectorAll("[aria-pressed=true]"),
          function (choice) { return true; });
        if (!picked.length) { return; }
        send(picked.map(function (c) { return c.dataset.payload; }).join(", "),
          picked.map(function (c) { return c.textContent; }).join("; "));
        afterChoice(event);
      } }));
  }
  log.appendChild(group);
}

function keepQuestionInView(bubble) {
  // A question with many choices may be taller than the window: its start stays in view.
  var overflow = log.scrollHeight - log.clientHeight;
  var questionTop = bubble.offsetTop - log.offsetTop - 8;
  log.scrollTop = Math.min(overflow, Math.max(0, questionTop));
}

function scrollToLatest() {
  // The newest message in view; when it is a question with choices, its start.
  pinnedToLatest = true;
  scrolledByUs = true;
  // Scroll events are dispatched before the next frame's callbacks: two frames on, any
  // scroll is the reader's.
  requestAnimationFrame(function () {
    requestAnimationFrame(function () { scrolledByUs = false; });
  });
  var choices = log.querySelector(".choices");
  if (choices && choices.previousSibling) { keepQuestionInView(choices.previousSibling); }
  else { log.scrollTop = log.scrollHeight; }
}

function showConversation(history) {
  log.textContent = "";
  showMessage({ text: WIDGET_CONFIG.disclosure[language] }, { live: false });
  history = history.filter(function (message) { return !isDisclosure(message); });
  history.forEach(function (message, index) {
    showMessage(message, { from: message.from, live: index === history.length - 1 });
  });
  outbox.forEach(function (item) { log.appendChild(item.bubble); });
  scrollToLatest();
}

function showStatus(status) {
  clearInterval(statusTimer);
  if (status.state === "waiting") {
    statusLine.textContent = words("waiting_for_counselor", { position: status.position });
    statusTimer = setInterval(function () {
      if (socket && socket.connected) { socket.emit("status_request"); }
    }, STATUS_POLL_MS);
  } else if (status.state === "after_hours") {
    statusLine.textContent = words("after_hours", { callback: status.callback });
  } else if (status.state === "with_counselor") {
    statusLine.textContent = words("with_counselor");
  } else {
    statusLine.textContent = "";
  }
}

function showConnection(text) {
  connectionNote = text;
  statusLine.textContent = text;
}

// --- sending ---------------------------------------------------------------------------------
// Messages go one at a time, in order, each acknowledged by the server once answered. While
// the connection is down they wait here; one that cannot be sent is marked so, with a retry.
var outbox = [];
var inFlight = null;

function onSubmit(event) {
  event.preventDefault();
  var text = input.value.trim();
  if (!text) { return; }
  input.value = "";
  send(text, text);
}

function send(message, shownAs) {
  clearChoices();
  var bubble = showMessage({ text: shownAs }, { from: "visitor" });
  var item = { message: message, bubble: bubble, queuedAt: Date.now() };
  outbox.push(item);
  connect();
  if (!socket.connected) { markDelivery(item, words("waiting_to_send")); }
  flush();
}

function markDelivery(item, text, retry) {
  var old = item.bubble.querySelector(".delivery");
  if (old) { old.remove(); }
  if (!text) { return; }
  var note = el("span", { "class": "delivery", text: text });
  if (retry) {
    note.appendChild(el("button", { type: "button", text: words("try_again"), onclick: function () {
      item.bubble.remove();
      send(item.message, item.bubble.querySelector("p").textContent);
    } }));
  }
  item.bubble.appendChild(note);
}

function sessionReady() {
  // The server confirmed this connection's conversation (after each reconnect too).
  return Boolean(socket && socket.connected && sessionId && confirmedOn === socket.id);
}

function sessionRefused() {
  // The server refused this connection a conversation (its address is over a limit). Messages
  // are still sent: one about suicide or an overdose gets the crisis reply all the same.
  return Boolean(socket && socket.connected && refusedUntil && refusedOn === socket.id);
}

function flush() {
  if (inFlight || !outbox.length || !(sessionReady() || sessionRefused())) { return; }
  var item = outbox[0];
  inFlight = item;
  markDelivery(item, null);
  typing.hidden = false;
  socket.timeout(SEND_TIMEOUT_MS).emit("user_uttered", { message: item.message },
    function (error, ack) {
      inFlight = null;
      outbox.shift();
      typing.hidden = true;
      if (error || !ack) {
        markDelivery(item, words("not_sent"), true);
      } else if (ack.retry_after) {
        markDelivery(item, words("over_limit", { seconds: ack.retry_after }), true);
      } else if (!ack.ok && sessionRefused()) {
        var seconds = Math.max(1, Math.ceil((refusedUntil - Date.now()) / 1000));
        markDelivery(item, words("over_limit", { seconds: seconds }), true);
      } else if (!ack.ok) {
        markDelivery(item, words("not_sent"), true);
      }
      flush();
    });
}

function giveUpOnOldMessages() {
  var now = Date.now();
  outbox = outbox.filter(function (item) {
    if (item === inFlight || now - item.queuedAt < OFFLINE_GIVE_UP_MS) { return true; }
    markDelivery(item, words("not_sent"), true);
    return false;
  });
}
setInterval(giveUpOnOldMessages, 5000);

// --- the connection --------------------------------------------------------------------------
var socket = null;
var sessionId = storedSession();
var statusTimer = null;
var connectionNote = "";
var confirmedOn = null;
var refusedOn = null;
var refusedUntil = 0;
var everConnected = false;

function connect() {
  if (socket) { return; }
  showConnection(words("connecting"));
  // Long-polling first, upgraded to a WebSocket where the network allows one: where
  // WebSockets are blocked the chat still works.
  socket = io(SERVER, { path: "/socket.io", transports: ["polling", "websocket"],
    withCredentials: false, reconnectionDelayMax: 10000 });
  socket.on("connect", function () {
    socket.emit("session_request", { session_id: sessionId });
  });
  socket.on("session_confirm", function (id) {
    confirmedOn = socket.id;
    refusedUntil = 0;
    sessionId = id;
    storeSession(id);
    if (everConnected) { showConnection(words("reconnected")); }
    else { showConnection(""); }
    everConnected = true;
    setTimeout(function () {
      if (connectionNote === words("reconnected")) { showConnection(""); }
    }, 3000);
    flush();
  });
  socket.on("session_refused", function (refusal) {
    // Too many requests from this address: say so, and ask again once the wait is over.
    showNote(refusal.text);
    var wait = Math.max(1, Math.min(Number(refusal.retry_after) || 30, 3600));
    refusedOn = socket.id;
    refusedUntil = Date.now() + wait * 1000;
    flush();
    setTimeout(function () {
      if (socket && socket.connected && !sessionReady()) {
        socket.emit("session_request", { session_id: sessionId });
      }
    }, wait * 1000 + 500);
  });
  socket.on("history", showConversation);
  socket.on("status", showStatus);
  socket.on("bot_uttered", function (message) {
    if (!isDisclosure(message)) { showMessage(message, { unread: true }); }
  });
  socket.on("user_echo", function (message) { showMessage(message, { from: "visitor" }); });
  socket.on("disconnect", function () {
    showConnection(words("reconnecting"));
    outbox.forEach(function (item) {
      if (item !== inFlight) { markDelivery(item, words("waiting_to_send")); }
    });
  });
  socket.io.on("reconnect_failed", function () { showConnection(words("unreachable")); });
  socket.io.on("reconnect_attempt", function (attempt) {
    if (attempt >= 3) { showConnection(words("unreachable")); }
  });
}

function disconnect() {
  if (socket) { socket.disconnect(); socket = null; }
  clearInterval(statusTimer);
  outbox = [];
  inFlight = null;
  typing.hidden = true;
}

// --- opening, closing, starting over, clearing, quick exit -----------------------------------
function openPanel() {
  panel.hidden = false;
  launcher.hidden = true;
  launcher.setAttribute("aria-expanded", "true");
  unread = 0;
  badge.hidden = true;
  if (!log.childNodes.length) { showConversation([]); }
  connect();
  scrollToLatest();
  input.focus();
}

function closePanel() {
  panel.hidden = true;
  launcher.hidden = false;
  launcher.setAttribute("aria-expanded", "false");
  launcher.focus();
}

function startOver() {
  disconnect();
  sessionId = null;
  storeSession(null);
  showConversation([]);
  showStatus({ state: "assistant" });
  connect();
  input.focus();
}

function clearFromDevice() {
  disconnect();
  sessionId = null;
  storeSession(null);
  log.textContent = "";
  showStatus({ state: "assistant" });
  showNote(words("cleared"));
  input.focus();
}

function quickExit() {
  // Hide everything at once, forget the conversation on this device, then leave for a
  // neutral site; replace() keeps this page out of the back button's way.
  host.style.display = "none";
  disconnect();
  storeSession(null);
  try { document.title = ""; document.body.textContent = ""; } catch (e) { /* leaving anyway */ }
  window.location.replace(EXIT_URL);
}

// Another tab cleared the chat, quick-exited or started over: this tab follows at once, so
// it cannot put a forgotten conversation back on the device when it reconnects.
window.addEventListener("storage", function (event) {
  if (event.key !== STORE_KEY || event.newValue === sessionId) { return; }
  if (event.newValue === null) {
    clearFromDevice();
  } else {
    disconnect();
    sessionId = event.newValue;
    showConversation([]);
    connect();
  }
});

var lastEscape = 0;
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") { return; }
  var now = Date.now();
  if (now - lastEscape < ESC_TWICE_MS) { quickExit(); }
  lastEscape = now;
}, true);

function mount() {
  document.body.appendChild(host);
  // Someone who was chatting gets their conversation back, and anything said meanwhile.
  if (sessionId) { showConversation([]); connect(); }
}

if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }
