/* The council web chat: sends what the resident types to `webhook` and shows the bot's replies.

   The conversation is remembered on this device (its id and owner token in localStorage): on load the page
   asks `history` for what was said and shows it again; "Start a new conversation" forgets both. Staff
   replies arrive by polling `updates` (more slowly while the tab is hidden) and are signed with the
   person's name; a reply that arrives while the tab is hidden puts "(1) New reply" in the tab's title
   until the page is looked at again, and the announcer tells screen reader users. The same poll brings
   the council's updates on reports the resident made ("Report NC-..."), shown as from the council; the
   next poll says which were shown (`seen`), so each is collected once and a lost answer is given again.

   Every piece of message text reaches the page through createElement and textContent, never innerHTML,
   so HTML in a message (the resident's or the bot's) is shown as text and can't run. Links in bot replies
   are found as plain http(s) URLs and built as <a> elements. */
(function () {
  "use strict";

  var ENDPOINT = "webhook";            // relative: the page is served at /webhooks/webchat/
  var UPDATES = "updates";             // staff replies and report updates, polled: the page can't be pushed to
  var HISTORY = "history";            // the conversation so far, for a reload or a return visit
  var PHOTO = "photo";                 // a photo the resident attaches: the body is the file itself
  // How often to ask for staff replies: often while the resident is looking, rarely while the tab is
  // hidden (still often enough that the tab's title says a reply came within half a minute).
  var POLL_VISIBLE_MS = 4000;
  var POLL_HIDDEN_MS = 30000;
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
    rejected: "Sorry, that message couldn't be sent: ",
    photoSent: "You sent a photo.",
    photoFailed: "Sorry, the photo couldn't be sent. Please try again in a moment.",
    photoTooLarge: "Sorry, that photo is too large. Please send one smaller than ",
    newReply: "New reply",
    newReplyFrom: "New reply from ",
    reportUpdate: "New update on your report",
    fresh: "New conversation started."
  };
  var BOT_SAID = "Council said: ";
  var YOU_SAID = "You said: ";

  var log, form, input, typing, errorBox, announcer, photoInput, restart;
  var memorySender = null;             // used only when localStorage is unavailable (private modes)
  var memoryToken = null;
  var queue = Promise.resolve();       // one request at a time, so replies stay in order
  var lastUpdate = 0;                  // id of the last staff message shown
  var lastCouncil = 0;                 // id of the last report update shown (sent back as `seen`)
  var pollTimer = null;
  var unread = 0;                      // replies that arrived while the tab was hidden
  var baseTitle = "";
  var generation = 0;                  // bumped by "start a new conversation": late answers for the old one are dropped

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

  /** The sender id, kept on this device so the conversation survives reloads and return visits. */
  function senderId() {
    try {
      var id = window.localStorage.getItem(SENDER_KEY);
      if (!id || !SENDER_RE.test(id)) {
        id = randomId();
        window.localStorage.setItem(SENDER_KEY, id);
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
      var token = window.localStorage.getItem(TOKEN_KEY);
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
      window.localStorage.setItem(TOKEN_KEY, token);
    } catch (e) { /* memory copy is enough for this page */ }
  }

  /** Forget this conversation: a new id, no token (the server refused the old pair, or the resident
      asked for a fresh start). */
  function newConversation() {
    memorySender = null;
    memoryToken = null;
    lastUpdate = 0;
    lastCouncil = 0;
    try {
      window.localStorage.removeItem(SENDER_KEY);
      window.localStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* nothing kept */ }
  }

  /** Whether we already hold a conversation to come back to (an id and its owner token). */
  function storedConversation() {
    try {
      var id = window.localStorage.getItem(SENDER_KEY);
      return Boolean(id && SENDER_RE.test(id) && ownerToken());
    } catch (e) {
      return false;
    }
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

  /** Who said it, for screen readers (sighted readers see it from the bubble's side, colour and label). */
  function speaker(who, label) {
    if (who === "staff") {
      return (label || "Council staff") + " (a person) said: ";
    }
    if (who === "council") {
      return "Update from the council" + (label ? " (" + label + ")" : "") + ": ";
    }
    return who === "bot" ? BOT_SAID : YOU_SAID;
  }

  /** Show one message in the log. `who` is "bot", "staff", "council" or "user"; only the council's text
      gets links. A staff message shows the person's `label` ("Casey (Customer Services)") above it, a
      report update the report's ("Report NC-2026-000123"). */
  function addMessage(who, text, label) {
    var bubble = element("div", "msg msg--" + who);
    if (who === "staff" || who === "council") {
      var from = element("p", "msg__from");
      from.textContent = label || (who === "staff" ? "Council staff" : "Council update");
      from.setAttribute("aria-hidden", "true");   // the hidden "... (a person) said:" says it once
      bubble.appendChild(from);
    }
    var paragraphs = String(text).split(/\n+/).filter(function (line) { return line.trim() !== ""; });
    if (paragraphs.length === 0) {
      paragraphs = [""];
    }
    paragraphs.forEach(function (line, index) {
      var p = element("p");
      if (index === 0) {
        p.appendChild(hiddenText(speaker(who, label)));
      }
      if (who !== "user") {
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
        send(choice.payload, choice.title, false, true);
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

  /** Who a message the server sent is from, as addMessage names it. */
  function author(from) {
    return from === "staff" || from === "council" ? from : "bot";
  }

  /** Show the council's messages (the bot's, staff's when `from` is "staff", a report update's when it
      is "council"). Returns how many. */
  function showReplies(replies) {
    if (!Array.isArray(replies)) {
      showError(MESSAGES.failed);
      return 0;
    }
    var shown = 0;
    replies.forEach(function (reply) {
      if (!reply || typeof reply !== "object") {
        return;
      }
      var who = author(reply.from);
      var label = typeof reply.label === "string" ? reply.label : "";
      if (typeof reply.text === "string" && reply.text !== "") {
        addMessage(who, reply.text, label);
        shown += 1;
      }
      if (Array.isArray(reply.buttons) && reply.buttons.length > 0) {
        addChoices(reply.buttons);
      }
    });
    if (shown > 0) {
      noticeReply(replies);
    }
    return shown;
  }

  /** A reply arrived: if the resident isn't looking, say so in the tab's title until they are. */
  function noticeReply(replies) {
    if (document.visibilityState === "visible") {
      return;
    }
    unread += 1;
    document.title = "(" + unread + ") " + MESSAGES.newReply + " - " + baseTitle;
    var staff = replies.filter(function (r) { return r && r.from === "staff"; })[0];
    var council = replies.filter(function (r) { return r && r.from === "council"; })[0];
    announce(staff && staff.label ? MESSAGES.newReplyFrom + staff.label
      : council ? MESSAGES.reportUpdate : MESSAGES.newReply);
  }

  /** Say `text` once to screen readers (the announcer is a polite live region of its own). */
  function announce(text) {
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  function onVisibility() {
    if (document.visibilityState === "visible") {
      unread = 0;
      document.title = baseTitle;
      schedulePoll(0);     // catch up at once, then at the faster pace
    }
  }

  /** Show the conversation so far, as `history` gives it: [{from, text, label?, photo?, buttons?}]. */
  function showHistory(lines) {
    lines.forEach(function (line) {
      if (!line || typeof line !== "object") {
        return;
      }
      if (line.from === "resident") {
        addMessage("user", line.photo ? MESSAGES.photoSent : String(line.text || ""));
        return;
      }
      var who = author(line.from);
      if (typeof line.text === "string" && line.text !== "") {
        addMessage(who, line.text, typeof line.label === "string" ? line.label : "");
      }
      if (Array.isArray(line.buttons) && line.buttons.length > 0) {
        addChoices(line.buttons);
      }
    });
  }

  /** On load: bring back the conversation kept on this device. If the server doesn't know this page as
      its owner (403: another browser's id, a forged or stale token), start a new one, showing nothing. */
  function restore() {
    if (!storedConversation()) {
      return Promise.resolve();
    }
    var url = HISTORY + "?sender=" + encodeURIComponent(senderId());
    return fetch(url, { headers: headers(), credentials: "same-origin" }).then(function (response) {
      if (response.status === 403 || response.status === 400) {
        newConversation();
        return null;
      }
      return response.ok ? response.json() : null;
    }).then(function (body) {
      if (body && Array.isArray(body.messages)) {
        showHistory(body.messages);
        if (typeof body.after === "number") {
          lastUpdate = Math.max(lastUpdate, body.after);
        }
      }
    }).catch(function () { /* offline: the conversation is still kept; the next load tries again */ });
  }

  /** "Start a new conversation": forget this one on this device, empty the log. */
  function startAgain() {
    generation += 1;
    newConversation();
    senderId();
    log.textContent = "";
    clearError();
    queue = Promise.resolve();
    announce(MESSAGES.fresh);
    input.focus();
  }

  /** POST one message and show the answer. Resolves to true if the bot answered. If the server no longer
      knows this page as the conversation's owner (403), start a new conversation and send it there once. */
  function exchange(message, retried, choice) {
    var started = generation;
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? window.setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
    setTyping(true);
    return fetch(ENDPOINT, {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      // `choice`: a button's payload, which may be a command like "/affirm"; typed text never is.
      body: JSON.stringify(choice ? { sender: senderId(), message: message, choice: true }
                                  : { sender: senderId(), message: message }),
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      if (started !== generation) {
        return false;      // the resident started a new conversation meanwhile
      }
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
      return answered === "retry" ? exchange(message, true, choice) : answered;
    });
  }

  /** Show `shown` as the resident's message and send `message`. If it fails and `restore` is true, the
      typed text goes back in the box (if the resident hasn't started another) so they can resend it.
      `choice`: `message` is a button's payload, not typed text. */
  function send(message, shown, restore, choice) {
    clearError();
    addMessage("user", shown);
    queue = queue.then(function () {
      return exchange(message, false, choice === true);
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

  /** Poll again in `delay` ms (the pace for the tab's visibility when not given). */
  function schedulePoll(delay) {
    if (pollTimer !== null) {
      window.clearTimeout(pollTimer);
    }
    var pace = document.visibilityState === "visible" ? POLL_VISIBLE_MS : POLL_HIDDEN_MS;
    pollTimer = window.setTimeout(poll, typeof delay === "number" ? delay : pace);
  }

  /** Fetch and show what staff sent since the last look, and report updates not yet collected, then
      schedule the next look. Quiet on errors: the next poll tries again. */
  function poll() {
    pollTimer = null;
    if (!ownerToken()) {
      schedulePoll();
      return;   // nothing sent yet, so nothing to collect
    }
    var started = generation;
    var url = UPDATES + "?sender=" + encodeURIComponent(senderId()) + "&after=" + lastUpdate +
      "&seen=" + lastCouncil;
    fetch(url, { headers: headers(), credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.json() : [];
    }).then(function (messages) {
      if (!Array.isArray(messages) || started !== generation) {
        return;
      }
      var fresh = messages.filter(function (message) {
        if (message && message.from === "council" && typeof message.update === "number") {
          return message.update > lastCouncil;   // a report update: its own ids, sent back as `seen`
        }
        return message && typeof message.id === "number" && message.id > lastUpdate;
      });
      fresh.forEach(function (message) {
        if (message.from === "council" && typeof message.update === "number") {
          lastCouncil = Math.max(lastCouncil, message.update);
        } else {
          lastUpdate = Math.max(lastUpdate, message.id);
        }
      });
      if (fresh.length > 0) {
        showReplies(fresh);
        if (document.visibilityState === "visible") {
          // The log announces it as well; this says who, in one short line.
          var staff = fresh.filter(function (m) { return m.from === "staff"; })[0];
          if (staff) {
            announce(MESSAGES.newReplyFrom + (staff.label || "the council"));
          } else if (fresh.some(function (m) { return m.from === "council"; })) {
            announce(MESSAGES.reportUpdate);
          }
        }
      }
    }).catch(function () { /* offline for a moment */ }).then(function () {
      if (pollTimer === null) {
        schedulePoll();
      }
    });
  }

  /** Send the chosen photo. The server checks it (size, and that it really is an image) and answers like
      a message: the bot's note, or why the photo was refused. */
  function onPhoto() {
    var file = photoInput.files && photoInput.files[0];
    if (!file) {
      return;
    }
    photoInput.value = "";
    clearError();
    // Said here, before uploading it over a phone's data plan, in the server's words
    // (knowledge/answers.py photo_too_large); the server checks again whatever the page says.
    var limit = parseInt(photoInput.getAttribute("data-max-bytes") || "0", 10);
    if (limit > 0 && file.size > limit) {
      var mb = limit / (1024 * 1024);
      showReplies([{ text: MESSAGES.photoTooLarge + (mb >= 1 ? Math.round(mb) + " MB." : Math.max(1, Math.round(limit / 1024)) + " KB.") }]);
      return;
    }
    addMessage("user", MESSAGES.photoSent);
    var started = generation;
    queue = queue.then(function () {
      setTyping(true);
      return fetch(PHOTO + "?sender=" + encodeURIComponent(senderId()), {
        method: "POST",
        headers: headers({ "Content-Type": "application/octet-stream" }),
        body: file,
        credentials: "same-origin"
      }).then(function (response) {
        if (started !== generation) {
          return;
        }
        keepToken(response.headers.get(TOKEN_HEADER));
        return response.json().catch(function () { return null; }).then(function (body) {
          // Accepted or refused with a reason, the answer is messages to show in the chat.
          if (Array.isArray(body)) {
            showReplies(body);
          } else {
            showError(MESSAGES.photoFailed);
          }
        });
      }).catch(function () {
        showError(MESSAGES.offline);
      }).then(function () {
        setTyping(false);
      });
    });
  }

  function start() {
    log = document.getElementById("chat-log");
    form = document.getElementById("chat-form");
    input = document.getElementById("chat-input");
    typing = document.getElementById("chat-typing");
    errorBox = document.getElementById("chat-error");
    announcer = document.getElementById("chat-announcer");
    photoInput = document.getElementById("chat-photo");
    restart = document.getElementById("chat-restart");
    if (!log || !form || !input || !typing || !errorBox || !announcer || !photoInput || !restart) {
      return;
    }
    baseTitle = document.title;
    form.addEventListener("submit", onSubmit);
    photoInput.addEventListener("change", onPhoto);
    restart.addEventListener("click", startAgain);
    document.addEventListener("visibilitychange", onVisibility);
    restore().then(function () {
      schedulePoll();
      form.setAttribute("data-ready", "true");   // lets tests wait until the page is wired up
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
