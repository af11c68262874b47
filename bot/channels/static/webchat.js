/* The council web chat: sends what the resident types to `webhook` and shows the bot's replies.

   Every piece of message text reaches the page through createElement and textContent, never innerHTML,
   so HTML in a message (the resident's or the bot's) is shown as text and can't run. Links in bot replies
   are found as plain http(s) URLs and built as <a> elements. */
(function () {
  "use strict";

  var ENDPOINT = "webhook";            // relative: the page is served at /webhooks/webchat/
  var UPDATES = "updates";             // staff replies, polled: the page can't be pushed to
  var POLL_MS = 3000;
  var SENDER_KEY = "councilbot.webchat.sender";
  var SENDER_RE = /^[A-Za-z0-9-]{16,64}$/;
  var TOKEN_KEY = "councilbot.webchat.token";
  var TOKEN_HEADER = "X-Conversation-Token";  // the server gives it with the first reply; we send it back
  var TOKEN_RE = /^[A-Za-z0-9_-]{16,64}$/;
  var TIMEOUT_MS = 45000;              // Rasa answers in well under a second; this only catches a hang
  var URL_RE = /https?:\/\/[^\s<>"']+/g;
  var TRAILING_PUNCTUATION = /[.,;:!?'"\])}]+$/;
  var MESSAGES = {
    typing: "The council is typing",
    empty: "Type your message, then press Send.",
    offline: "Sorry, we couldn't reach the chat. Check your internet connection and try again.",
    failed: "Sorry, the chat isn't answering right now. Please try again in a moment.",
    rejected: "Sorry, that message couldn't be sent: "
  };

  var log, form, input, typing, errorBox;
  var memorySender = null;             // used only when sessionStorage is unavailable (private modes)
  var memoryToken = null;
  var queue = Promise.resolve();       // one request at a time, so replies stay in order
  var lastUpdate = 0;                  // id of the last staff message shown

  /** A random id for this conversation: 122 random bits, never anything about the person. */
  function randomId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // randomUUID needs a secure context (https or localhost); getRandomValues works everywhere.
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  /** The sender id, kept for this tab's session so the bot remembers the conversation across reloads. */
  function senderId() {
    try {
      var id = window.sessionStorage.getItem(SENDER_KEY);
      if (!id || !SENDER_RE.test(id)) {
        id = randomId();
        window.sessionStorage.setItem(SENDER_KEY, id);
      }
      return id;
    } catch (e) {
      memorySender = memorySender || randomId();
      return memorySender;
    }
  }

  /** The owner token of this conversation, if the server has given us one yet. */
  function ownerToken() {
    try {
      var token = window.sessionStorage.getItem(TOKEN_KEY);
      return token && TOKEN_RE.test(token) ? token : memoryToken;
    } catch (e) {
      return memoryToken;
    }
  }

  function keepToken(token) {
    if (!token || !TOKEN_RE.test(token)) {
      return;
    }
    memoryToken = token;
    try {
      window.sessionStorage.setItem(TOKEN_KEY, token);
    } catch (e) { /* memory copy is enough for this page */ }
  }

  /** Forget this conversation: a new id, no token (the server refused the old pair). */
  function newConversation() {
    memorySender = null;
    memoryToken = null;
    lastUpdate = 0;
    try {
      window.sessionStorage.removeItem(SENDER_KEY);
      window.sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* nothing kept */ }
  }

  /** Request headers: JSON, plus the owner token once we have it. */
  function headers(extra) {
    var all = { "Accept": "application/json" };
    var token = ownerToken();
    if (token) {
      all[TOKEN_HEADER] = token;
    }
    Object.keys(extra || {}).forEach(function (key) { all[key] = extra[key]; });
    return all;
  }

  function element(tag, className) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    return node;
  }

  function hiddenText(text) {
    var span = element("span", "visually-hidden");
    span.textContent = text;
    return span;
  }

  /** A link to `url` (http or https only, as URL_RE matched), opening in a new tab so the chat stays. */
  function link(url) {
    var a = element("a");
    a.href = url;
    a.textContent = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.appendChild(hiddenText(" (opens in new tab)"));
    return a;
  }

  /** Append `text` to `parent`, with each URL in it as a link and everything else as plain text. */
  function appendLinkedText(parent, text) {
    var last = 0;
    text.replace(URL_RE, function (match, offset) {
      // A sentence's full stop or a closing bracket is not part of the address.
      var url = match.replace(TRAILING_PUNCTUATION, "");
      if (offset > last) {
        parent.appendChild(document.createTextNode(text.slice(last, offset)));
      }
      parent.appendChild(link(url));
      last = offset + url.length;
      return match;
    });
    if (last < text.length) {
      parent.appendChild(document.createTextNode(text.slice(last)));
    }
  }

  function scrollToEnd(node) {
    log.scrollTop = log.scrollHeight;
    if (node.scrollIntoView) {
      node.scrollIntoView({ block: "nearest" });
    }
  }

  /** Show one message in the log. `who` is "bot" or "user"; only bot text gets links. */
  function addMessage(who, text) {
    var bubble = element("div", "msg msg--" + who);
    var paragraphs = String(text).split(/\n+/).filter(function (line) { return line.trim() !== ""; });
    if (paragraphs.length === 0) {
      paragraphs = [""];
    }
    paragraphs.forEach(function (line, index) {
      var p = element("p");
      if (index === 0) {
        // Screen readers hear who said it; sighted readers see it from the bubble's side and colour.
        p.appendChild(hiddenText(who === "bot" ? "Council said: " : "You said: "));
      }
      if (who === "bot") {
        appendLinkedText(p, line);
      } else {
        p.appendChild(document.createTextNode(line));
      }
      bubble.appendChild(p);
    });
    log.appendChild(bubble);
    scrollToEnd(bubble);
  }

  /** Show the bot's suggested replies as buttons; choosing one sends its payload as the resident. */
  function addChoices(buttons) {
    var group = element("div", "msg__choices");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Suggested replies");
    buttons.forEach(function (choice) {
      if (!choice || typeof choice.title !== "string" || typeof choice.payload !== "string") {
        return;
      }
      var button = element("button", "msg__choice");
      button.type = "button";
      button.textContent = choice.title;
      button.addEventListener("click", function () {
        // One answer per question: the other suggestions no longer apply.
        Array.prototype.forEach.call(group.querySelectorAll("button"), function (b) { b.disabled = true; });
        send(choice.payload, choice.title, false);
        input.focus();
      });
      group.appendChild(button);
    });
    if (group.childNodes.length > 0) {
      log.appendChild(group);
      scrollToEnd(group);
    }
  }

  function showError(text) {
    errorBox.hidden = false;
    errorBox.textContent = text;
  }

  function clearError() {
    errorBox.textContent = "";
    errorBox.hidden = true;
  }

  function setTyping(on) {
    typing.textContent = on ? MESSAGES.typing : "";
  }

  function showReplies(replies) {
    if (!Array.isArray(replies)) {
      showError(MESSAGES.failed);
      return;
    }
    replies.forEach(function (reply) {
      if (!reply || typeof reply !== "object") {
        return;
      }
      if (typeof reply.text === "string" && reply.text !== "") {
        addMessage("bot", reply.text);
      }
      if (Array.isArray(reply.buttons) && reply.buttons.length > 0) {
        addChoices(reply.buttons);
      }
    });
  }

  /** POST one message and show the answer. Resolves to true if the bot answered. If the server no longer
      knows this page as the conversation's owner (403), start a new conversation and send it there once. */
  function exchange(message, retried) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? window.setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
    setTyping(true);
    return fetch(ENDPOINT, {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ sender: senderId(), message: message }),
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      keepToken(response.headers.get(TOKEN_HEADER));
      if (response.status === 403 && !retried) {
        newConversation();
        return "retry";
      }
      return response.json().catch(function () { return null; }).then(function (body) {
        if (response.ok) {
          showReplies(body);
          return true;
        }
        // 429: sending too fast. The body is a reply in the usual shape asking the resident to wait.
        if (response.status === 429 && Array.isArray(body)) {
          showReplies(body);
          return false;
        }
        // A 400 says in plain words what was wrong with the message; anything else is our fault.
        var reason = response.status === 400 && body && typeof body.error === "string" ? body.error : null;
        showError(reason ? MESSAGES.rejected + reason + "." : MESSAGES.failed);
        return false;
      });
    }).catch(function () {
      showError(MESSAGES.offline);
      return false;
    }).then(function (answered) {
      if (timer !== null) {
        window.clearTimeout(timer);
      }
      setTyping(false);
      return answered === "retry" ? exchange(message, true) : answered;
    });
  }

  /** Show `shown` as the resident's message and send `message`. If it fails and `restore` is true, the
      typed text goes back in the box (if the resident hasn't started another) so they can resend it. */
  function send(message, shown, restore) {
    clearError();
    addMessage("user", shown);
    queue = queue.then(function () {
      return exchange(message);
    }).then(function (answered) {
      if (!answered && restore && input.value === "") {
        input.value = shown;
      }
    });
  }

  function onSubmit(event) {
    event.preventDefault();
    var text = input.value;
    if (text.trim() === "") {
      showError(MESSAGES.empty);
      input.focus();
      return;
    }
    input.value = "";
    send(text, text, true);
    input.focus();   // after a click on Send, so the resident can type the next message straight away
  }

  /** Fetch and show what staff sent since the last look. Quiet on errors: the next poll tries again. */
  function poll() {
    if (document.hidden) {
      return;
    }
    var url = UPDATES + "?sender=" + encodeURIComponent(senderId()) + "&after=" + lastUpdate;
    if (!ownerToken()) {
      return;   // nothing sent yet, so nothing to collect
    }
    fetch(url, { headers: headers(), credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.json() : [];
    }).then(function (messages) {
      if (!Array.isArray(messages)) {
        return;
      }
      messages.forEach(function (message) {
        if (message && typeof message.id === "number" && message.id > lastUpdate) {
          lastUpdate = message.id;
          showReplies([message]);
        }
      });
    }).catch(function () { /* offline for a moment */ });
  }

  function start() {
    log = document.getElementById("chat-log");
    form = document.getElementById("chat-form");
    input = document.getElementById("chat-input");
    typing = document.getElementById("chat-typing");
    errorBox = document.getElementById("chat-error");
    if (!log || !form || !input || !typing || !errorBox) {
      return;
    }
    form.addEventListener("submit", onSubmit);
    window.setInterval(poll, POLL_MS);
    form.setAttribute("data-ready", "true");   // lets tests wait until the page is wired up
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
