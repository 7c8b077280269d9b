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
 */
(function () {
  "use strict";

  var h = window.React.createElement;

  var VERDICTS = { eligible: "Likely fits", uncertain: "Might fit", ineligible: "Does not fit" };
  var STATUSES = { met: "Met", not_met: "Not met", unknown: "Unknown", needs_review: "Needs review",
                   study_team: "Study team checks" };
  var FIELDS = {
    age: "Age", tumor_site: "Tumour site", stage: "Stage (AJCC 8)", ecog: "ECOG", prior_treatment: "Prior treatment",
    p16: "p16 / HPV", differentiation: "Differentiation", histology: "Histology",
    immunotherapy_response: "Response to immunotherapy", immunotherapy_cycles: "Immunotherapy cycles",
    pathologic_response: "Pathologic response", recurrent: "Recurrent", resectable: "Resectable",
    other_cancer_5y: "Other cancer in 5 years", pregnant: "Pregnant or breastfeeding", sex: "Sex",
    location: "City", consent: "Consent", cancer_type: "Kind of cancer", study_team: "Study team"
  };
  var NCT = /^NCT\d{8}$/;

  function fieldLabel(field) {
    return FIELDS[field] || String(field).replace(/_/g, " ");
  }

  function words(value) {
    return String(value).replace(/_/g, " ");
  }

  /* A profile value as a person reads it: a list of possible values is "A or B", [] is "none". */
  function answerText(value) {
    if (value === undefined || value === null) return "not answered";
    if (value === "unknown") return "not known";
    if (Array.isArray(value)) {
      if (!value.length) return "none";
      if (value.length === 2 && typeof value[0] === "number") return value[0] + " to " + value[1];
      return value.map(words).join(" or ");
    }
    if (value === true) return "yes";
    if (value === false) return "no";
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

  function criteriaTexts(match, statuses) {
    return unique((match.criteria || []).filter(function (c) {
      return statuses.indexOf(c.status) >= 0;
    }).map(function (c) { return c.text; }));
  }

  function list(items, className) {
    return h("ul", { className: className }, items.map(function (text, i) { return h("li", { key: i }, text); }));
  }

  function badge(verdict) {
    return h("span", { className: "badge badge-" + verdict }, VERDICTS[verdict] || words(verdict));
  }

  function siteText(site) {
    var place = [site.facility, site.city, site.country].filter(Boolean).join(", ");
    return typeof site.distance_km === "number" ? place + " (about " + Math.round(site.distance_km) + " km)" : place;
  }

  /* --- result cards (both pages) ------------------------------------------- */

  function reasons(match) {
    var parts = [];
    var notMet = criteriaTexts(match, ["not_met"]);
    var open = criteriaTexts(match, ["unknown", "needs_review"]);
    var met = criteriaTexts(match, ["met"]);
    var team = match.study_team_checks || [];
    if (notMet.length) parts.push(h("h4", { key: "nh" }, "Why it does not fit"), h("div", { key: "nl" }, list(notMet, "reasons reasons-not-met")));
    if (open.length) parts.push(h("h4", { key: "oh" }, "Still to check"), h("div", { key: "ol" }, list(open, "reasons reasons-open")));
    if (met.length) {
      parts.push(h("details", { key: "met" }, h("summary", null, "What fits (" + met.length + ")"), list(met, "reasons reasons-met")));
    }
    if (team.length) {
      parts.push(h("details", { key: "team" }, h("summary", null, "The study team also checks (" + team.length + ")"),
        list(team, "reasons reasons-team")));
    }
    return parts;
  }

  // A trial listed with its verdict only (a result with many trials explains the best
  // ranked in full): say how to get its reasons.
  function notExplained(match) {
    return "Ask \u201cwhy not " + match.nct_id + "\u201d or \u201ctell me more about " + match.nct_id +
      "\u201d in the chat for its reasons and sites.";
  }

  function card(match) {
    var url = trialUrl(match);
    var sites = (match.sites || []).map(siteText).filter(Boolean);
    return h("article", { className: "trial-card verdict-" + match.verdict, key: match.nct_id, "data-nct": match.nct_id,
                          "data-verdict": match.verdict },
      h("header", { className: "trial-card-header" },
        badge(match.verdict),
        h("h3", { className: "trial-title" }, match.title || match.nct_id),
        h("p", { className: "trial-nct" }, match.nct_id)),
      reasons(match),
      match.explained === false ? h("p", { className: "trial-brief" }, notExplained(match)) : null,
      sites.length ? h("h4", null, "Where") : null,
      sites.length ? list(sites.slice(0, 5), "sites") : null,
      url ? h("a", { className: "trial-link", href: url, target: "_blank", rel: "noopener noreferrer" },
        "Read " + match.nct_id + " on ClinicalTrials.gov") : null);
  }

  function results(payload, onMounted) {
    var matches = payload.matches || [];
    return h("section", { className: "trial-results", "aria-label": "Trial results", ref: onMounted },
      h("p", { className: "results-intro" }, matches.length ? "The trials I checked, best fit first:" :
        "I have no trials for this kind of cancer."),
      matches.map(card),
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
    if (!keys.length) box.appendChild(el("div", "empty", "No answers yet."));
    keys.forEach(function (key) {
      var row = el("div", "profile-row");
      row.setAttribute("data-field", key);
      row.appendChild(el("dt", null, fieldLabel(key)));
      row.appendChild(el("dd", null, answerText(profile[key])));
      box.appendChild(row);
    });
    if (asking) asking.textContent = payload.asking ? "Now asking: " + fieldLabel(payload.asking) : "";
  }

  function checklistTable(match, profile) {
    var table = el("table", "checklist");
    table.appendChild(el("caption", "visually-hidden", "Criteria of " + match.nct_id));
    var head = el("tr");
    ["Criterion (trial's words)", "Patient's answer", "Status"].forEach(function (title) {
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
      criterion.appendChild(document.createTextNode(c.text || ""));
      if (c.note) criterion.appendChild(el("span", "criterion-note", c.note));
      row.appendChild(criterion);
      row.appendChild(el("td", null, c.field === "study_team" ? "-" : answerText(profile[c.field])));
      row.appendChild(el("td", "status", STATUSES[c.status] || words(c.status)));
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
      heading.appendChild(el("span", "badge badge-" + match.verdict, VERDICTS[match.verdict] || match.verdict));
      heading.appendChild(document.createTextNode(" " + match.nct_id + ": " + (match.title || "")));
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
      h("p", null, "Sorry, no answer came back for that. Please try again."),
      h("button", { type: "button", className: "button-secondary", onClick: function () {
        var sent = document.querySelectorAll(".rw-from-client .rw-client");
        if (sent.length) options.resend(sent[sent.length - 1].textContent.trim());
      } }, "Send it again"));
  }

  /*
   * Side panels are filled from a ref callback, so they follow the messages in
   * order both when they arrive and when the widget restores the conversation.
   */
  function component(options) {
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
      return null;
    };
  }

  window.TrialbotRender = { component: component, answerText: answerText };
})();
