/*
 * What the bot's custom messages look like on the page (window.TrialbotRender).
 *
 * The socket.io channel (bot/server/channels.py) sends each custom JSON message as
 * {"custom": payload}; the chat wrapper (chat.js) hands those to
 * `component(...)`, a React function component:
 *   trial_matches      -> result cards in the chat (both pages) and, on the
 *                         nurse console, a checklist per trial beside the chat;
 *   screening_profile  -> the running profile beside the chat (nurse console);
 *   no_reply           -> a retry note with a "send again" button.
 *
 * Everything is built with React.createElement or textContent, never from
 * HTML strings, so whatever a patient typed or a record says is shown as text.
 * Links go only to clinicaltrials.gov.
 *
 * Two languages: every label below exists in English and Chinese (TEXT), chosen by
 * the page's language (chat.js passes `language()`). In Chinese a trial's title and
 * each criterion are shown from the record's translation (title_zh, text_zh), marked
 * 译文, with the trial's own English words beside them; a trial without a translation
 * shows its English words.
 *   language           -> nothing (chat.js follows it as it arrives)
 */
(function () {
  "use strict";

  var h = window.React.createElement;

  var TEXT = {
    en: {
      verdicts: { eligible: "Likely fits", uncertain: "Might fit", ineligible: "Does not fit" },
      statuses: { met: "Met", not_met: "Not met", unknown: "Unknown", needs_review: "Needs review",
                  study_team: "Study team checks" },
      fields: {
        age: "Age", tumor_site: "Tumour site", stage: "Stage (AJCC 8)", ecog: "ECOG", prior_treatment: "Prior treatment",
        p16: "p16 / HPV", differentiation: "Differentiation", histology: "Histology",
        immunotherapy_response: "Response to immunotherapy", immunotherapy_cycles: "Immunotherapy cycles",
        pathologic_response: "Pathologic response", recurrent: "Recurrent", resectable: "Resectable",
        other_cancer_5y: "Other cancer in 5 years", pregnant: "Pregnant or breastfeeding", sex: "Sex",
        location: "City", consent: "Consent", cancer_type: "Kind of cancer", study_team: "Study team"
      },
      notAnswered: "not answered", notKnown: "not known", none: "none", to: " to ", or: " or ", yes: "yes", no: "no",
      km: function (km) { return " (about " + km + " km)"; },
      whyNot: "Why it does not fit", stillToCheck: "Still to check",
      whatFits: function (n) { return "What fits (" + n + ")"; },
      teamChecks: function (n) { return "The study team also checks (" + n + ")"; },
      notExplained: function (nct) {
        return "Ask \u201cwhy not " + nct + "\u201d or \u201ctell me more about " + nct + "\u201d in the chat for its reasons and sites.";
      },
      where: "Where", read: function (nct) { return "Read " + nct + " on ClinicalTrials.gov"; },
      resultsLabel: "Trial results", intro: "The trials I checked, best fit first:",
      notListed: function (fit, maybe, not) {
        return "Not listed here: " + (fit + maybe + not) + " more trials in scope (" + fit + " likely fit, " +
          maybe + " might fit, " + not + " do not fit). Ask \u201cwhy not\u201d with a trial's NCT number for its reasons.";
      },
      noTrials: "I have no trials for this kind of cancer.", noAnswers: "No answers yet.",
      nowAsking: function (f) { return "Now asking: " + f; },
      criteriaOf: function (nct) { return "Criteria of " + nct; },
      columns: ["Criterion (trial's words)", "Patient's answer", "Status"],
      noReply: "Sorry, no answer came back for that. Please try again.", sendAgain: "Send it again",
      translated: "translation", original: "Trial's words: ", officialTitle: "official Chinese title"
    },
    zh: {
      verdicts: { eligible: "可能符合", uncertain: "有待核对", ineligible: "不符合" },
      statuses: { met: "符合", not_met: "不符合", unknown: "未知", needs_review: "需要核对", study_team: "由研究团队核对" },
      fields: {
        age: "年龄", tumor_site: "肿瘤部位", stage: "分期（AJCC第8版）", ecog: "ECOG体力状况", prior_treatment: "既往治疗",
        p16: "p16/HPV", differentiation: "分化程度", histology: "病理类型",
        immunotherapy_response: "免疫治疗疗效", immunotherapy_cycles: "免疫治疗周期数",
        pathologic_response: "病理缓解", recurrent: "是否复发", resectable: "能否手术切除",
        other_cancer_5y: "近5年其他癌症", pregnant: "怀孕或哺乳", sex: "性别",
        location: "城市", consent: "知情同意", cancer_type: "癌症类型", study_team: "研究团队"
      },
      notAnswered: "未回答", notKnown: "不知道", none: "无", to: "至", or: "或", yes: "是", no: "否",
      km: function (km) { return "（约" + km + "公里）"; },
      whyNot: "不符合的原因", stillToCheck: "有待核对",
      whatFits: function (n) { return "符合的标准（" + n + "）"; },
      teamChecks: function (n) { return "研究团队还会核对（" + n + "）"; },
      notExplained: function (nct) {
        return "在对话中问“为什么" + nct + "不适合”或“介绍一下" + nct + "”，可以看原因和研究中心。";
      },
      where: "研究中心", read: function (nct) { return "在ClinicalTrials.gov上查看" + nct; },
      resultsLabel: "试验结果", intro: "我核对过的试验，最可能符合的排在前面：",
      notListed: function (fit, maybe, not) {
        return "此处未列出范围内另外 " + (fit + maybe + not) + " 项试验（可能符合 " + fit + " 项，或许符合 " + maybe +
          " 项，不符合 " + not + " 项）。如需了解原因，请发送“为什么不符合”加试验的 NCT 编号。";
      },
      noTrials: "我没有这类癌症的试验。", noAnswers: "还没有回答。",
      nowAsking: function (f) { return "正在询问：" + f; },
      criteriaOf: function (nct) { return nct + "的标准"; },
      columns: ["标准（中文为译文，附试验原文）", "患者的回答", "状态"],
      noReply: "抱歉，这条消息没有收到回复。请再试一次。", sendAgain: "再发送一次",
      translated: "译文", original: "试验原文：", officialTitle: "官方中文标题"
    }
  };
  var NCT = /^NCT\d{8}$/;
  var currentLanguage = function () { return "en"; };

  function tr() {
    return TEXT[currentLanguage()] || TEXT.en;
  }

  function zh() {
    return currentLanguage() === "zh";
  }

  function fieldLabel(field) {
    return tr().fields[field] || String(field).replace(/_/g, " ");
  }

  function words(value) {
    return String(value).replace(/_/g, " ");
  }

  /* A profile value as a person reads it: a list of possible values is "A or B", [] is "none". */
  function answerText(value) {
    var t = tr();
    if (value === undefined || value === null) return t.notAnswered;
    if (value === "unknown") return t.notKnown;
    if (Array.isArray(value)) {
      if (!value.length) return t.none;
      if (value.length === 2 && typeof value[0] === "number") return value[0] + t.to + value[1];
      return value.map(words).join(t.or);
    }
    if (value === true || value === "yes") return value === true ? t.yes : (zh() ? t.yes : "yes");
    if (value === false || value === "no") return value === false ? t.no : (zh() ? t.no : "no");
    return words(value);
  }

  function trialUrl(match) {
    if (NCT.test(match.nct_id || "")) return "https://clinicaltrials.gov/study/" + match.nct_id;
    return /^https:\/\/clinicaltrials\.gov\//.test(match.url || "") ? match.url : null;
  }

  function unique(texts) {
    var seen = {};
    return texts.filter(function (t) { return t && !seen[t] && (seen[t] = true); });
  }

  /* A criterion's words: the trial's own; in Chinese the translation (译文) with them beside it. */
  function criterionText(c) {
    if (!zh() || !c.text_zh) return c.text;
    return { zh: c.text_zh, en: c.text };
  }

  function criteriaTexts(match, statuses) {
    var seen = {};
    return (match.criteria || []).filter(function (c) {
      return statuses.indexOf(c.status) >= 0 && c.text && !seen[c.text] && (seen[c.text] = true);
    }).map(criterionText);
  }

  function textNode(item) {
    if (typeof item === "string") return item;
    return [h("span", { key: "zh", lang: "zh-CN", className: "text-zh" }, item.zh),
            h("span", { key: "tag", className: "translation-tag" }, " [" + tr().translated + "] "),
            h("span", { key: "en", lang: "en", className: "text-original" }, tr().original + item.en)];
  }

  function list(items, className) {
    return h("ul", { className: className }, items.map(function (item, i) { return h("li", { key: i }, textNode(item)); }));
  }

  function badge(verdict) {
    return h("span", { className: "badge badge-" + verdict }, tr().verdicts[verdict] || words(verdict));
  }

  function siteText(site) {
    var place = [site.facility, site.city, site.country].filter(Boolean).join(", ");
    return typeof site.distance_km === "number" ? place + tr().km(Math.round(site.distance_km)) : place;
  }

  /* The card's title: in Chinese the record's Chinese title (marked 译文 unless official) and the English one. */
  function title(match) {
    if (!zh() || !match.title_zh) return match.title || match.nct_id;
    var tag = match.title_zh_source === "official" ? tr().officialTitle : tr().translated;
    return [h("span", { key: "zh", lang: "zh-CN" }, match.title_zh),
            h("span", { key: "tag", className: "translation-tag" }, " [" + tag + "] "),
            h("span", { key: "en", lang: "en", className: "text-original" }, match.title)];
  }

  /* --- result cards (both pages) ------------------------------------------- */

  function reasons(match) {
    var parts = [];
    var notMet = criteriaTexts(match, ["not_met"]);
    var open = criteriaTexts(match, ["unknown", "needs_review"]);
    var met = criteriaTexts(match, ["met"]);
    var team = criteriaTexts(match, ["study_team"]);
    if (!team.length) team = match.study_team_checks || [];
    var t = tr();
    if (notMet.length) parts.push(h("h4", { key: "nh" }, t.whyNot), h("div", { key: "nl" }, list(notMet, "reasons reasons-not-met")));
    if (open.length) parts.push(h("h4", { key: "oh" }, t.stillToCheck), h("div", { key: "ol" }, list(open, "reasons reasons-open")));
    if (met.length) {
      parts.push(h("details", { key: "met" }, h("summary", null, t.whatFits(met.length)), list(met, "reasons reasons-met")));
    }
    if (team.length) {
      parts.push(h("details", { key: "team" }, h("summary", null, t.teamChecks(team.length)),
        list(team, "reasons reasons-team")));
    }
    return parts;
  }

  // A trial listed with its verdict only (a result with many trials explains the best
  // ranked in full): say how to get its reasons.
  function notExplained(match) {
    return tr().notExplained(match.nct_id);
  }

  function card(match) {
    var url = trialUrl(match);
    var sites = (match.sites || []).map(siteText).filter(Boolean);
    return h("article", { className: "trial-card verdict-" + match.verdict, key: match.nct_id, "data-nct": match.nct_id,
                          "data-verdict": match.verdict },
      h("header", { className: "trial-card-header" },
        badge(match.verdict),
        h("h3", { className: "trial-title" }, title(match)),
        h("p", { className: "trial-nct" }, match.nct_id)),
      reasons(match),
      match.explained === false ? h("p", { className: "trial-brief" }, notExplained(match)) : null,
      sites.length ? h("h4", null, tr().where) : null,
      sites.length ? list(sites.slice(0, 5), "sites") : null,
      url ? h("a", { className: "trial-link", href: url, target: "_blank", rel: "noopener noreferrer" },
        tr().read(match.nct_id)) : null);
  }

  function notListed(counts) {
    // Trials in scope beyond those listed (a registry-sized knowledge base): counted, not carded.
    if (!counts) return null;
    var fit = counts.eligible || 0, maybe = counts.uncertain || 0, not = counts.ineligible || 0;
    return fit + maybe + not ? h("p", { className: "results-not-listed" }, tr().notListed(fit, maybe, not)) : null;
  }

  function results(payload, onMounted) {
    var matches = payload.matches || [];
    var t = tr();
    return h("section", { className: "trial-results", "aria-label": t.resultsLabel, ref: onMounted,
                          lang: zh() ? "zh-CN" : "en" },
      h("p", { className: "results-intro" }, matches.length ? t.intro : t.noTrials),
      matches.map(card),
      notListed(payload.not_listed),
      payload.disclaimer ? h("p", { className: "results-disclaimer" }, payload.disclaimer) : null);
  }

  /* --- nurse console: running profile and checklist ------------------------ */

  function clear(element) {
    while (element.firstChild) element.removeChild(element.firstChild);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showProfile(payload) {
    var box = document.getElementById("profile");
    var asking = document.getElementById("profile-asking");
    if (!box) return;
    clear(box);
    var profile = payload.profile || {};
    var keys = Object.keys(profile);
    if (!keys.length) box.appendChild(el("div", "empty", tr().noAnswers));
    keys.forEach(function (key) {
      var row = el("div", "profile-row");
      row.setAttribute("data-field", key);
      row.appendChild(el("dt", null, fieldLabel(key)));
      row.appendChild(el("dd", null, answerText(profile[key])));
      box.appendChild(row);
    });
    if (asking) asking.textContent = payload.asking ? tr().nowAsking(fieldLabel(payload.asking)) : "";
  }

  function checklistTable(match, profile) {
    var table = el("table", "checklist");
    table.appendChild(el("caption", "visually-hidden", tr().criteriaOf(match.nct_id)));
    var head = el("tr");
    tr().columns.forEach(function (title) {
      var th = el("th", null, title);
      th.scope = "col";
      head.appendChild(th);
    });
    table.appendChild(el("thead")).appendChild(head);
    var body = table.appendChild(el("tbody"));
    (match.criteria || []).forEach(function (c) {
      var row = el("tr", "status-" + c.status);
      var criterion = el("td");
      criterion.appendChild(el("span", "criterion-field", fieldLabel(c.field) + ": "));
      if (zh() && c.text_zh) {
        criterion.appendChild(el("span", "text-zh", c.text_zh));
        criterion.appendChild(el("span", "translation-tag", " [" + tr().translated + "] "));
        criterion.appendChild(el("span", "text-original", tr().original + (c.text || "")));
      } else {
        criterion.appendChild(document.createTextNode(c.text || ""));
      }
      if (c.note) criterion.appendChild(el("span", "criterion-note", c.note));
      row.appendChild(criterion);
      row.appendChild(el("td", null, c.field === "study_team" ? "-" : answerText(profile[c.field])));
      row.appendChild(el("td", "status", tr().statuses[c.status] || words(c.status)));
      body.appendChild(row);
    });
    return table;
  }

  function showChecklist(payload) {
    var box = document.getElementById("checklist");
    if (!box) return;
    clear(box);
    var profile = payload.profile || {};
    showProfile({ profile: profile, asking: null });
    (payload.matches || []).forEach(function (match) {
      // One collapsible checklist per trial; those that do not fit start closed.
      var section = el("details", "checklist-trial verdict-" + match.verdict);
      section.setAttribute("data-nct", match.nct_id);
      section.open = match.verdict !== "ineligible";
      var summary = el("summary");
      var heading = el("h3");
      heading.appendChild(el("span", "badge badge-" + match.verdict, tr().verdicts[match.verdict] || match.verdict));
      heading.appendChild(document.createTextNode(" " + match.nct_id + ": " +
        ((zh() && match.title_zh ? match.title_zh + " [" + tr().translated + "] " : "") + (match.title || ""))));
      summary.appendChild(heading);
      section.appendChild(summary);
      if (match.explained === false) section.appendChild(el("p", "trial-brief", notExplained(match)));
      else section.appendChild(checklistTable(match, profile));
      box.appendChild(section);
    });
  }

  /* --- the chat's custom component ------------------------------------------ */

  function noReply(options) {
    return h("div", { className: "retry-note", role: "alert" },
      h("p", null, tr().noReply),
      h("button", { type: "button", className: "button-secondary", onClick: function () {
        var sent = document.querySelectorAll(".rw-from-client .rw-client");
        if (sent.length) options.resend(sent[sent.length - 1].textContent.trim());
      } }, tr().sendAgain));
  }

  /*
   * Side panels are filled from a ref callback, so they follow the messages in
   * order both when they arrive and when the widget restores the conversation.
   */
  function component(options) {
    if (typeof options.language === "function") currentLanguage = options.language;
    return function TrialbotMessage(props) {
      var payload = props.custom || {};
      if (payload.type === "trial_matches") {
        return results(payload, options.role === "nurse" ? function (node) { if (node) showChecklist(payload); } : null);
      }
      if (payload.type === "screening_profile") {
        return h("span", { hidden: true, className: "profile-update",
                           ref: function (node) { if (node && options.role === "nurse") showProfile(payload); } });
      }
      if (payload.type === "no_reply") return noReply(options);
      return null;  // "language": chat.js follows the bot's switch as the message arrives
    };
  }

  window.TrialbotRender = { component: component, answerText: answerText };
})();
