/* The case page: shows the resident's new messages as they arrive (polling the case's messages API), and
   fills the reply box from a suggested answer. Text goes in with textContent only, never innerHTML, so
   anything a resident typed is shown as text. */
(function () {
  "use strict";
  var POLL_MS = 3000;
  var WHO = { resident: "Resident", bot: "Bot", staff: "Staff", note: "Internal note", system: "System" };

  function line(m) {
    var li = document.createElement("li");
    li.className = "line line-" + m.author;
    li.setAttribute("data-id", String(m.id));
    var head = document.createElement("p");
    head.className = "line-head";
    var who = document.createElement("strong");
    who.textContent = m.author === "staff" && m.by ? m.by : (WHO[m.author] || m.author);
    head.appendChild(who);
    var at = document.createElement("span");
    at.className = "hint";
    at.textContent = " " + m.at;
    head.appendChild(at);
    if (m.author === "resident" && m.intent) {
      var understood = document.createElement("span");
      understood.className = "understood";
      understood.textContent = " Bot understood: " + m.intent;
      head.appendChild(understood);
    }
    var text = document.createElement("p");
    text.className = "line-text";
    text.textContent = m.text;
    li.appendChild(head);
    li.appendChild(text);
    return li;
  }

  function poll(list) {
    var after = list.getAttribute("data-after") || "0";
    var url = "/api/cases/" + encodeURIComponent(list.getAttribute("data-reference")) + "/messages?after=" + after;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data || !Array.isArray(data.messages)) {
        return;
      }
      data.messages.forEach(function (m) {
        if (!list.querySelector('[data-id="' + m.id + '"]')) {
          list.appendChild(line(m));
        }
        list.setAttribute("data-after", String(m.id));
      });
      var status = document.getElementById("case-status");
      if (status && data.status) {
        status.textContent = data.status;
      }
    }).catch(function () { /* try again next time */ });
  }

  function start() {
    var list = document.getElementById("timeline");
    if (list) {
      window.setInterval(function () { poll(list); }, POLL_MS);
    }
    Array.prototype.forEach.call(document.querySelectorAll("[data-fill]"), function (button) {
      button.addEventListener("click", function () {
        var box = document.getElementById(button.getAttribute("data-fill"));
        if (box) {
          box.value = button.getAttribute("data-text");
          box.focus();
        }
      });
    });
    var form = document.getElementById("reply-form");
    if (form) {
      // One click, one reply: the server also refuses a repeated nonce, this just spares the round trip.
      form.addEventListener("submit", function () {
        var send = document.getElementById("send-reply");
        if (send) { window.setTimeout(function () { send.disabled = true; }, 0); }
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
