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
 * - a retry notice when a message gets no reply in time or the connection drops;
 * - two languages: the 中文 / English switch (buttons [data-set-language]) sets the
 *   page's language, remembered in this tab's sessionStorage for the conversation
 *   (first visit: the browser's language), shows the page's own words in it (every
 *   element marked data-l="en" / data-l="zh", hidden by trialbot.css when not the
 *   page's language), labels the widget in it and sends it in customData.language
 *   with every message; when the bot switches language because the person wrote in
 *   Chinese, it says so ({"type": "language"}) and the page follows.
 */
(function () {
  "use strict";

  var WIDGET_STORAGE_KEY = "chat_session"; // rasa-webchat's own key
  var ROLE_KEY = "trialbot_role";
  var HELD_KEY = "trialbot_session"; // {session_id, resume} the server issued to this tab
  var RESTARTED_KEY = "trialbot_restarted";
  var LANGUAGE_KEY = "trialbot_language"; // the page's language for this tab's conversation: "en" | "zh"
  var LANGUAGES = ["en", "zh"];
  var replyTimeoutMs = 30000; // replaced by /config.json's replyTimeoutSeconds

  var role = document.body.getAttribute("data-role") === "nurse" ? "nurse" : "patient";
  var chatRoot = document.getElementById("chat");
  var statusBox = document.getElementById("chat-status");
  var replyTimer = null;
  var lastUserText = "";
  var customData = { role: role }; // the same object rides on every message the widget sends
  var noticeOnConnect = "";
  var language = "en";

  /* The page's words in each language (the rest of the page is in the HTML, both languages). */
  var WORDS = {
    en: {
      title: role === "nurse" ? "Pre-screening (nurse mode)" : "Trial pre-screening", subtitle: "Not medical advice",
      hint: "Type your answer...", connecting: "Connecting...", answer: "Your answer", send: "Send",
      conversation: "Conversation", sendAgain: "Send my last answer again",
      noReplyInTime: "No reply came back in time. Please try again: send your answer once more.",
      lost: "The connection to the assistant was lost. Trying to reconnect...",
      unreachable: "The assistant cannot be reached just now. It will keep trying.",
      cannotStart: "The chat could not start. Please reload the page.",
      newConversation: "This conversation is open in another tab or window, or was left for too long, " +
        "so a new one has started here."
    },
    zh: {
      title: role === "nurse" ? "预筛查（护士模式）" : "临床试验预筛查", subtitle: "不构成医疗建议",
      hint: "请输入您的回答…", connecting: "正在连接…", answer: "您的回答", send: "发送",
      conversation: "对话", sendAgain: "重新发送我的上一条回答",
      noReplyInTime: "没有及时收到回复。请再试一次：把回答再发送一遍。",
      lost: "与助手的连接断开了，正在重新连接…",
      unreachable: "暂时无法连接助手，会继续尝试。",
      cannotStart: "对话无法启动，请刷新页面。",
      newConversation: "这个对话已在另一个标签页或窗口中打开，或者闲置太久，所以这里开始了一个新的对话。"
    }
  };

  function say(key) {
    return (WORDS[language] || WORDS.en)[key];
  }

  /* The language of this tab's conversation: chosen before, else the browser's. */
  function initialLanguage() {
    var kept = sessionStorage.getItem(LANGUAGE_KEY);
    if (LANGUAGES.indexOf(kept) >= 0) return kept;
    var browser = String(navigator.language || "").toLowerCase();
    return browser.indexOf("zh") === 0 ? "zh" : "en";
  }

  /* Show the page in `lang`, label the widget in it, and send it with every message from now on. */
  function setLanguage(lang) {
    if (LANGUAGES.indexOf(lang) < 0) return;
    language = lang;
    customData.language = lang;
    sessionStorage.setItem(LANGUAGE_KEY, lang);
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.documentElement.setAttribute("data-lang", lang);
    document.querySelectorAll("[data-set-language]").forEach(function (button) {
      button.setAttribute("aria-pressed", button.getAttribute("data-set-language") === lang ? "true" : "false");
    });
    var pageTitle = document.querySelector("[data-title-" + lang + "]");
    if (pageTitle) document.title = pageTitle.getAttribute("data-title-" + lang);
    labelWidget(true);
  }

  /* The widget's own words (title, placeholder, labels), in the page's language. */
  function labelWidget(again) {
    var set = function (selector, attribute, value) {
      var node = chatRoot.querySelector(selector);
      if (!node) return;
      if (attribute) node.setAttribute(attribute, value);
      else if (node.textContent !== value) node.textContent = value;
    };
    set(".rw-title", null, say("title"));
    set(".rw-subtitle", null, say("subtitle"));
    set(".rw-new-message", "placeholder", say("hint"));
    if (again) {
      set(".rw-new-message", "aria-label", say("answer"));
      set(".rw-send", "aria-label", say("send"));
      set(".rw-messages-container", "aria-label", say("conversation"));
    }
  }

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
    sessionStorage.setItem(LANGUAGE_KEY, language); // the page keeps its language
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
      button.textContent = say("sendAgain");
      button.addEventListener("click", function () { resend(lastUserText); });
      statusBox.appendChild(button);
    }
  }

  function waitForReply() {
    window.clearTimeout(replyTimer);
    replyTimer = window.setTimeout(function () {
      showStatus(say("noReplyInTime"), true);
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
    if (box) box.setAttribute("aria-label", say("answer"));
    var send = chatRoot.querySelector(".rw-send:not([aria-label])");
    if (send) send.setAttribute("aria-label", say("send"));
    var log = chatRoot.querySelector(".rw-messages-container:not([role])");
    if (log) {
      log.setAttribute("role", "log");
      log.setAttribute("aria-live", "polite");
      log.setAttribute("aria-label", say("conversation"));
      log.setAttribute("tabindex", "0");
    }
    if (language !== "en") labelWidget(false);
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
      title: say("title"),
      subtitle: say("subtitle"),
      inputTextFieldHint: say("hint"),
      connectingText: say("connecting"),
      embedded: true,
      showCloseButton: false,
      showFullScreenButton: false,
      hideWhenNotConnected: false,
      withRules: false,
      params: { storage: "session" },
      customMessageDelay: function () { return 250; },
      customComponent: window.TrialbotRender.component({ role: role, resend: resend,
                                                          language: function () { return language; } }),
      onSocketEvent: {
        session_confirm: sessionConfirmed,
        session_check: sessionCheck,
        // The bot switched language because the person wrote in Chinese: the page follows (live
        // messages only; a conversation restored from storage keeps the tab's own choice).
        bot_uttered: function (data) {
          var custom = data && data.custom;
          if (custom && custom.type === "language") setLanguage(custom.language);
        },
        connect: function () {
          showStatus(noticeOnConnect, false);
          noticeOnConnect = "";
        },
        disconnect: function (reason) {
          showStatus(say("lost"), false);
          // socket.io does not reconnect by itself when the server closed the socket, which it
          // does to a tab that did not answer session_check in time (e.g. frozen in the background).
          if (reason === "io server disconnect" && this && typeof this.connect === "function") this.connect();
        },
        connect_error: function () {
          showStatus(say("unreachable"), false);
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
    setLanguage(initialLanguage());
    document.querySelectorAll("[data-set-language]").forEach(function (button) {
      button.addEventListener("click", function () { setLanguage(button.getAttribute("data-set-language")); });
    });
    if (forgetRefusedConversation()) {
      noticeOnConnect = say("newConversation");
    }
    var held = readHeld();
    if (held) customData.resume = held.resume;
    document.getElementById("clear-conversation").addEventListener("click", clearConversation);
    fetch("/config.json", { cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(mount)
      .catch(function () { showStatus(say("cannotStart"), false); });
  }

  start();
})();
