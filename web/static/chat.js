/*
 * The chat on the patient page and the nurse console: a thin wrapper around the
 * rasa-webchat 1.0.1 widget (window.WebChat, served from web/node_modules).
 *
 * Only this file knows the widget: its props, its sessionStorage key and its
 * CSS class names. Swapping the widget means rewriting this file; the cards,
 * checklist and profile panel (render.js) only receive the bot's custom
 * messages and a `resend(text)` function.
 *
 * What the wrapper adds to the widget:
 * - the conversation lives in sessionStorage (never localStorage: clinics share computers);
 * - the conversation belongs to this tab: the server sends a resume secret with a
 *   new session id (never logged, never shown); it is kept in this tab's
 *   sessionStorage and rides in customData.resume on every message, which is how
 *   the server knows a reloaded page is the tab that started the conversation.
 *   When the server starts a new conversation instead (the same conversation is
 *   open in another tab, or the tab came back too late), the page starts afresh
 *   and says why (bot/server/channels.py);
 * - it answers the server's session_check, so a tab whose connection dropped is
 *   told apart from a live one;
 * - the nurse console sends customData {role: "nurse"}, so the bot starts in nurse mode;
 * - keyboard and screen-reader access the widget lacks: quick replies become
 *   focusable buttons, the message box and send button get labels, the
 *   conversation is a live log;
 * - a retry notice when a message gets no reply in time or the connection drops.
 */
(function () {
  "use strict";

  var WIDGET_STORAGE_KEY = "chat_session"; // rasa-webchat's own key
  var ROLE_KEY = "trialbot_role";
  var HELD_KEY = "trialbot_session"; // {session_id, resume} the server issued to this tab
  var RESTARTED_KEY = "trialbot_restarted";
  var replyTimeoutMs = 30000; // replaced by /config.json's replyTimeoutSeconds

  var role = document.body.getAttribute("data-role") === "nurse" ? "nurse" : "patient";
  var chatRoot = document.getElementById("chat");
  var statusBox = document.getElementById("chat-status");
  var replyTimer = null;
  var lastUserText = "";
  var customData = { role: role }; // the same object rides on every message the widget sends
  var noticeOnConnect = "";

  function readHeld() {
    try {
      var held = JSON.parse(sessionStorage.getItem(HELD_KEY) || "null");
      return held && typeof held.session_id === "string" && typeof held.resume === "string" ? held : null;
    } catch (e) {
      return null;
    }
  }

  /* A conversation started on the other page (same tab) must not continue here in the wrong mode. */
  function startFreshIfOtherRole() {
    if (sessionStorage.getItem(ROLE_KEY) !== role) {
      sessionStorage.removeItem(WIDGET_STORAGE_KEY);
      sessionStorage.removeItem(HELD_KEY);
      sessionStorage.setItem(ROLE_KEY, role);
    }
  }

  /* After the server refused to carry on this tab's conversation: forget it before the widget loads it. */
  function forgetRefusedConversation() {
    if (sessionStorage.getItem(RESTARTED_KEY) === null) return false;
    sessionStorage.removeItem(RESTARTED_KEY);
    sessionStorage.removeItem(WIDGET_STORAGE_KEY);
    sessionStorage.removeItem(HELD_KEY);
    return true;
  }

  /*
   * session_confirm runs here before the widget's own handler. A resume secret
   * comes only with a new conversation: the first one of this tab is kept; one
   * that replaces the tab's conversation means the server would not carry it
   * on, so the page reloads without it (the widget would otherwise keep showing
   * the old messages over a conversation the server does not know).
   */
  function sessionConfirmed(data) {
    if (!data || typeof data.resume !== "string") return;
    var held = readHeld();
    if (held && held.session_id !== data.session_id) {
      sessionStorage.setItem(RESTARTED_KEY, "1");
      window.location.reload();
      return;
    }
    sessionStorage.setItem(HELD_KEY, JSON.stringify({ session_id: data.session_id, resume: data.resume }));
    customData.resume = data.resume;
  }

  /* The server asks whether this tab is still here before it gives its conversation to anyone else. */
  function sessionCheck(data, ack) {
    if (typeof ack === "function") ack(true);
  }

  function clearConversation() {
    sessionStorage.clear();
    window.location.reload();
  }

  /* --- status line under the chat (retry, connection) --------------------- */

  function showStatus(text, withRetry) {
    statusBox.textContent = "";
    if (!text) return;
    var p = document.createElement("p");
    p.className = "notice";
    p.textContent = text;
    statusBox.appendChild(p);
    if (withRetry && lastUserText) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button-secondary";
      button.textContent = "Send my last answer again";
      button.addEventListener("click", function () { resend(lastUserText); });
      statusBox.appendChild(button);
    }
  }

  function waitForReply() {
    window.clearTimeout(replyTimer);
    replyTimer = window.setTimeout(function () {
      showStatus("No reply came back in time. Please try again: send your answer once more.", true);
    }, replyTimeoutMs);
  }

  function replyArrived() {
    window.clearTimeout(replyTimer);
    replyTimer = null;
    showStatus("");
  }

  /* Send text as if typed: the widget's own form does the sending and shows the message. */
  function resend(text) {
    var box = chatRoot.querySelector(".rw-new-message");
    var form = chatRoot.querySelector("form.rw-sender");
    if (!box || !form || !text) return;
    var setter = Object.getOwnPropertyDescriptor(window.HTMLTextAreaElement.prototype, "value").set;
    setter.call(box, text);
    box.dispatchEvent(new Event("input", { bubbles: true }));
    form.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    box.focus();
  }

  /* --- accessibility the widget does not give ------------------------------ */

  function activateOnKeys(event) {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      event.currentTarget.click();
    }
  }

  function patchWidget() {
    chatRoot.querySelectorAll(".rw-reply:not([data-a11y])").forEach(function (reply) {
      reply.setAttribute("data-a11y", "1");
      if (reply.tagName !== "A" && reply.tagName !== "BUTTON") {
        reply.setAttribute("role", "button");
        reply.setAttribute("tabindex", "0");
        reply.addEventListener("keydown", activateOnKeys);
      }
    });
    var box = chatRoot.querySelector(".rw-new-message:not([aria-label])");
    if (box) box.setAttribute("aria-label", "Your answer");
    var send = chatRoot.querySelector(".rw-send:not([aria-label])");
    if (send) send.setAttribute("aria-label", "Send");
    var log = chatRoot.querySelector(".rw-messages-container:not([role])");
    if (log) {
      log.setAttribute("role", "log");
      log.setAttribute("aria-live", "polite");
      log.setAttribute("aria-label", "Conversation");
      log.setAttribute("tabindex", "0");
    }
  }

  /*
   * Waiting for a reply = the last message group is the person's own. Judged
   * from the widget's messages, so a conversation restored from sessionStorage
   * or a reply that is still being typed out behaves the same as a live one.
   */
  function watchMessages() {
    patchWidget();
    var groups = chatRoot.querySelectorAll(".rw-group-message");
    if (!groups.length) return;
    var last = groups[groups.length - 1];
    if (last.classList.contains("rw-from-client")) {
      var sent = last.querySelectorAll(".rw-client");
      if (sent.length) lastUserText = sent[sent.length - 1].textContent.trim();
      if (!replyTimer) waitForReply();
    } else if (replyTimer) {
      replyArrived();
    }
  }

  /* --- mount ---------------------------------------------------------------- */

  function widgetProps(config) {
    return {
      socketUrl: config.socketUrl,
      socketPath: config.socketPath,
      customData: customData,
      initPayload: "/greet",
      title: role === "nurse" ? "Pre-screening (nurse mode)" : "Trial pre-screening",
      subtitle: "Not medical advice",
      inputTextFieldHint: "Type your answer...",
      connectingText: "Connecting...",
      embedded: true,
      showCloseButton: false,
      showFullScreenButton: false,
      hideWhenNotConnected: false,
      withRules: false,
      params: { storage: "session" },
      customMessageDelay: function () { return 250; },
      customComponent: window.TrialbotRender.component({ role: role, resend: resend }),
      onSocketEvent: {
        session_confirm: sessionConfirmed,
        session_check: sessionCheck,
        connect: function () {
          showStatus(noticeOnConnect, false);
          noticeOnConnect = "";
        },
        disconnect: function (reason) {
          showStatus("The connection to the assistant was lost. Trying to reconnect...", false);
          // socket.io does not reconnect by itself when the server closed the socket, which it
          // does to a tab that did not answer session_check in time (e.g. frozen in the background).
          if (reason === "io server disconnect" && this && typeof this.connect === "function") this.connect();
        },
        connect_error: function () {
          showStatus("The assistant cannot be reached just now. It will keep trying.", false);
        }
      }
    };
  }

  function mount(config) {
    if (config.replyTimeoutSeconds > 0) replyTimeoutMs = config.replyTimeoutSeconds * 1000;
    new MutationObserver(watchMessages).observe(chatRoot, { childList: true, subtree: true });
    window.WebChat.default(widgetProps(config), chatRoot);
  }

  function start() {
    startFreshIfOtherRole();
    if (forgetRefusedConversation()) {
      noticeOnConnect = "This conversation is open in another tab or window, or was left for too long, " +
        "so a new one has started here.";
    }
    var held = readHeld();
    if (held) customData.resume = held.resume;
    document.getElementById("clear-conversation").addEventListener("click", clearConversation);
    fetch("/config.json", { cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(mount)
      .catch(function () { showStatus("The chat could not start. Please reload the page.", false); });
  }

  start();
})();
