// Up2pay order page widget (Saleor Dashboard extension ORDER_DETAILS_WIDGETS / WIDGET, and the
// ORDER_DETAILS_MORE_ACTIONS popup with ?view=refund). The iframe URL carries saleorApiUrl and
// orderId; App Bridge brings the token, the theme and the locale, checked as on the
// configuration page (parent window, referrer origin, allowed origins). No secret is shown here.
(function () {
  "use strict";

  const MESSAGES = {
    en: {
      connecting: "Connecting to the Saleor Dashboard…",
      noOrder: "Open this widget from an order in the Saleor Dashboard.",
      noLegs: "No Up2pay payment on this order.",
      splitTitle: "Refund across legs",
      amount: "Amount",
      strategy: "Strategy",
      complement_first: "Card complement first",
      voucher_first: "Voucher first",
      pro_rata: "Pro rata",
      reasonReference: "Refund reason (page ID, if your site requires one)",
      propose: "Propose",
      confirm: "Ask Saleor for these refunds",
      leg: "Leg", askNow: "Refund now", allows: "Allows today",
      captured: "Captured", refunded: "Refunded", cancelled: "Cancelled", amountLeg: "Amount",
      pending: "Refund pending (Saleor)",
      refusedAttempts: "refused attempt(s) before",
      waiting: "Refund waiting for Up2pay's next day",
      runs: "runs",
      problems: "Open problem",
      history: "GAE history",
      noHistory: "No GAE call yet.",
      check: "Check with Up2pay now",
      checking: "Asking Up2pay…",
      checkSame: "Up2pay agrees with the app",
      checkDiff: "Difference reported to Saleor",
      checkFailed: "Up2pay did not answer",
      act_REFUND_now: "Refund possible now (up to {amount})",
      act_REFUND_later: "Refund possible from {date}",
      act_REFUND_not_refundable: "Cannot be refunded through Up2pay",
      act_REFUND_nothing_left: "Nothing left to refund",
      act_REFUND_not_accepted: "Payment not accepted",
      act_CHARGE_now: "Capture possible now (up to {amount})",
      act_CANCEL_now: "Cancel possible now, until remitted (up to {amount})",
      shortfall: "{amount} cannot be refunded through Up2pay today.",
      alternatives: "Alternatives: propose it again from the date shown, or refund the customer another way (store credit or a gift card in Saleor, bank transfer).",
      requested: "Asked of Saleor",
      notRequested: "Not asked",
      nothingToAsk: "Nothing can be refunded through Up2pay today.",
      error: "Something went wrong: ",
      grantsTitle: "Granted refunds",
      grantsPermission: "Saleor lets the app read granted refunds only with the {permission} permission. To pick them here, grant it to the app in the Dashboard (the app's permissions), then reload. Granted refunds sent from the order page are refunded as before.",
      grantsUnavailable: "Granted refunds could not be read from Saleor.",
      grantOn: "on {leg}",
      grantUntied: "not tied to a payment yet",
      grantStatus_NONE: "Not refunded",
      grantStatus_PENDING: "Refund pending",
      grantStatus_FAILURE: "Refund failed",
      grantUse: "Use this granted refund",
      grantPlan: "Saleor refunds this granted refund whole on {leg}: {amount}.",
      grantPlanAssigns: "The granted refund is not tied to a payment yet: Saleor ties it to {leg}.",
      grantConfirm: "Ask Saleor to refund this granted refund",
      grant_pending: "Saleor is already refunding it.",
      grant_not_up2pay: "Tied to a payment that is not an Up2pay leg: refund it from the order page.",
      grant_leg_blocked: "Tied to {leg}, which allows {allows} today ({reason}). Saleor refunds a granted refund whole, on its own payment only.",
      grant_no_single_leg: "No leg can take the whole {amount} today (at most {allows}). Saleor refunds a granted refund whole, with one payment.",
      grantAlternatives: "Alternatives: refund it from the date shown; or in Saleor, change the granted refund's amount or payment, or split it into one granted refund per leg, then pick each here; or refund across legs below, and the granted refund stays open in Saleor.",
      grantsStayOpen: "A refund asked here without picking a granted refund leaves the granted refunds open in Saleor.",
    },
    fr: {
      connecting: "Connexion au Dashboard Saleor…",
      noOrder: "Ouvrez ce widget depuis une commande dans le Dashboard Saleor.",
      noLegs: "Aucun paiement Up2pay sur cette commande.",
      splitTitle: "Rembourser sur plusieurs paiements",
      amount: "Montant",
      strategy: "Répartition",
      complement_first: "Complément carte d’abord",
      voucher_first: "Titre d’abord",
      pro_rata: "Au prorata",
      reasonReference: "Motif de remboursement (ID de page, si votre site l’exige)",
      propose: "Proposer",
      confirm: "Demander ces remboursements à Saleor",
      leg: "Paiement", askNow: "Rembourser", allows: "Possible aujourd’hui",
      captured: "Capturé", refunded: "Remboursé", cancelled: "Annulé", amountLeg: "Montant",
      pending: "Remboursement en attente (Saleor)",
      refusedAttempts: "tentative(s) refusée(s) avant",
      waiting: "Remboursement en attente du lendemain (Up2pay)",
      runs: "exécution",
      problems: "Problème ouvert",
      history: "Historique GAE",
      noHistory: "Aucun appel GAE pour l’instant.",
      check: "Vérifier auprès d’Up2pay",
      checking: "Interrogation d’Up2pay…",
      checkSame: "Up2pay confirme l’état connu de l’app",
      checkDiff: "Écart signalé à Saleor",
      checkFailed: "Up2pay n’a pas répondu",
      act_REFUND_now: "Remboursable maintenant (jusqu’à {amount})",
      act_REFUND_later: "Remboursable à partir du {date}",
      act_REFUND_not_refundable: "Non remboursable via Up2pay",
      act_REFUND_nothing_left: "Plus rien à rembourser",
      act_REFUND_not_accepted: "Paiement non accepté",
      act_CHARGE_now: "Capture possible maintenant (jusqu’à {amount})",
      act_CANCEL_now: "Annulation possible maintenant, avant remise (jusqu’à {amount})",
      shortfall: "{amount} ne peuvent pas être remboursés via Up2pay aujourd’hui.",
      alternatives: "Alternatives : proposer à nouveau à partir de la date indiquée, ou rembourser le client autrement (avoir ou carte cadeau dans Saleor, virement).",
      requested: "Demandé à Saleor",
      notRequested: "Non demandé",
      nothingToAsk: "Rien ne peut être remboursé via Up2pay aujourd’hui.",
      error: "Une erreur est survenue : ",
      grantsTitle: "Remboursements accordés",
      grantsPermission: "Saleor ne laisse l’app lire les remboursements accordés qu’avec la permission {permission}. Pour les choisir ici, accordez-la à l’app dans le Dashboard (permissions de l’app), puis rechargez. Les remboursements accordés envoyés depuis la page de commande sont remboursés comme avant.",
      grantsUnavailable: "Les remboursements accordés n’ont pas pu être lus dans Saleor.",
      grantOn: "sur {leg}",
      grantUntied: "rattaché à aucun paiement pour l’instant",
      grantStatus_NONE: "Non remboursé",
      grantStatus_PENDING: "Remboursement en cours",
      grantStatus_FAILURE: "Remboursement échoué",
      grantUse: "Utiliser ce remboursement accordé",
      grantPlan: "Saleor rembourse ce remboursement accordé en entier sur {leg} : {amount}.",
      grantPlanAssigns: "Le remboursement accordé n’est rattaché à aucun paiement : Saleor le rattache à {leg}.",
      grantConfirm: "Demander à Saleor de rembourser ce remboursement accordé",
      grant_pending: "Saleor le rembourse déjà.",
      grant_not_up2pay: "Rattaché à un paiement qui n’est pas un paiement Up2pay : remboursez-le depuis la page de commande.",
      grant_leg_blocked: "Rattaché à {leg}, qui permet {allows} aujourd’hui ({reason}). Saleor rembourse un remboursement accordé en entier, sur son propre paiement uniquement.",
      grant_no_single_leg: "Aucun paiement ne peut prendre les {amount} en entier aujourd’hui (au plus {allows}). Saleor rembourse un remboursement accordé en entier, avec un seul paiement.",
      grantAlternatives: "Alternatives : le rembourser à partir de la date indiquée ; ou dans Saleor, modifier le montant ou le paiement du remboursement accordé, ou le scinder en un remboursement accordé par paiement, puis choisir chacun ici ; ou rembourser sur plusieurs paiements ci-dessous, le remboursement accordé restant alors ouvert dans Saleor.",
      grantsStayOpen: "Un remboursement demandé ici sans choisir de remboursement accordé laisse les remboursements accordés ouverts dans Saleor.",
    },
  };

  const params = new URLSearchParams(window.location.search);
  const apiPath = meta("up2pay-api");
  const allowedOrigins = meta("up2pay-dashboard-origins").split(/\s+/).filter(Boolean);
  const saleorApiUrl = params.get("saleorApiUrl");
  // Dashboard 3.22/3.23 puts the order's global ID in orderId and the app's own ID in id: id is
  // taken only when it is an order's ID ("Order:…" once decoded), never the app's.
  const orderId = params.get("orderId") || orderGlobalId(params.get("id"));
  const referrerOrigin = originOf(document.referrer);
  const state = {
    token: null, started: false, view: null, proposal: null, results: null, checks: {},
    grant: null, grantResult: null,
    locale: (params.get("locale") || navigator.language || "en").toLowerCase().startsWith("fr") ? "fr" : "en",
  };

  function orderGlobalId(value) {
    try { return value && atob(value).startsWith("Order:") ? value : null; } catch (e) { return null; }
  }
  function meta(name) {
    const el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") || "" : "";
  }
  function originOf(url) {
    try { return url ? new URL(url).origin : null; } catch (e) { return null; }
  }
  function originAllowed(origin) {
    let url;
    try { url = new URL(origin); } catch (e) { return false; }
    return allowedOrigins.some(function (pattern) {
      let p;
      try { p = new URL(pattern.replace("://*.", "://wildcard.")); } catch (e) { return false; }
      if (p.protocol !== url.protocol || p.port !== url.port) return false;
      if (pattern.includes("://*.")) return url.hostname.endsWith(p.hostname.slice("wildcard".length));
      return p.hostname === url.hostname;
    });
  }
  function t(key, values) {
    let text = (MESSAGES[state.locale] || MESSAGES.en)[key] || MESSAGES.en[key] || key;
    Object.entries(values || {}).forEach(function ([k, v]) { text = text.replace("{" + k + "}", v); });
    return text;
  }
  function h(tag, attrs, children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") el.className = value;
      else if (name === "text") el.textContent = value;
      else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else el.setAttribute(name, value === true ? "" : value);
    }
    for (const child of [].concat(children || []).flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }
  function $(id) { return document.getElementById(id); }
  function money(value, currency) {
    return new Intl.NumberFormat(state.locale === "fr" ? "fr-FR" : "en-GB", { style: "currency", currency: currency || "EUR" }).format(Number(value));
  }
  function when(iso, withTime) {
    const options = { day: "numeric", month: "short", timeZone: "Europe/Paris" };
    if (withTime) { options.hour = "2-digit"; options.minute = "2-digit"; }
    return new Intl.DateTimeFormat(state.locale === "fr" ? "fr-FR" : "en-GB", options).format(new Date(iso));
  }

  // --- App Bridge -------------------------------------------------------------------------

  function post(type, payload) {
    const id = window.crypto && window.crypto.randomUUID ? window.crypto.randomUUID() : String(Date.now());
    window.parent.postMessage({ type: type, payload: Object.assign({ actionId: id }, payload) }, referrerOrigin || "*");
  }
  window.addEventListener("message", function (event) {
    if (event.source !== window.parent) return;
    if (referrerOrigin && event.origin !== referrerOrigin) return;
    if (!originAllowed(event.origin)) return;
    const data = event.data;
    if (!data || typeof data !== "object" || typeof data.type !== "string") return;
    const payload = data.payload || {};
    if ((data.type === "handshake" || data.type === "tokenRefresh") && typeof payload.token === "string" && payload.token) {
      state.token = payload.token;
      if (!state.started) { state.started = true; load(); }
    } else if (data.type === "theme") {
      applyTheme(payload.theme);
    } else if (data.type === "localeChanged" && payload.locale) {
      state.locale = String(payload.locale).toLowerCase().startsWith("fr") ? "fr" : "en";
      render();
    }
  });
  function applyTheme(theme) {
    if (theme === "dark" || theme === "light") document.documentElement.dataset.theme = theme;
  }

  async function api(path, body) {
    const response = await fetch(apiPath + "/" + path, {
      method: "POST",
      headers: { "content-type": "application/json", "authorization-bearer": state.token, "saleor-api-url": saleorApiUrl },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(function () { return {}; });
    if (!response.ok) throw new Error((data.error && data.error.message) || ("HTTP " + response.status));
    return data;
  }
  function banner(text) {
    const el = $("banner");
    el.textContent = text || "";
    el.hidden = !text;
  }

  async function load() {
    if (!orderId || !saleorApiUrl) { banner(t("noOrder")); $("loading").hidden = true; return; }
    try {
      state.view = await api("legs", { order_id: orderId });
      banner("");
    } catch (e) {
      banner(t("error") + e.message);
    }
    $("loading").hidden = true;
    $("main").hidden = false;
    render();
    post("widgetResize", { height: document.documentElement.scrollHeight });
  }

  // --- rendering --------------------------------------------------------------------------

  function possible(p, currency) {
    if (p.now) return h("li", { class: "now", text: t("act_" + p.action + "_now", { amount: money(p.amount, currency) }) });
    if (p.from) return h("li", { class: "later", text: t("act_" + p.action + "_later", { date: when(p.from, true) }) });
    return h("li", { class: "never", text: t("act_" + p.action + "_" + p.reason) });
  }

  function legCard(item) {
    const leg = item.leg;
    const cur = leg.currency;
    const check = state.checks[item.transaction_id];
    const figures = [
      ["amountLeg", leg.amount], ["captured", leg.captured], ["refunded", leg.refunded],
      ["cancelled", leg.cancelled], ["pending", item.saleor.refund_pending],
    ];
    return h("article", { class: "leg-card", "data-leg": leg.leg, "data-transaction": item.transaction_id }, [
      h("h3", {}, [leg.label, leg.card_type && leg.card_type !== leg.leg ? h("span", { class: "badge sandbox", text: leg.card_type }) : null,
        h("span", { class: "badge " + (leg.status === "ACCEPTED" ? "ok" : "bad"), text: leg.status })]),
      h("div", { class: "refs", text: "S " + leg.numtrans + " · T " + leg.numappel + " · " + leg.reference + (leg.authorization ? " · A " + leg.authorization : "") + " · " + when(leg.paid_at, true) }),
      item.refused_attempts ? h("div", { class: "muted", text: item.refused_attempts + " " + t("refusedAttempts") }) : null,
      h("div", { class: "leg-grid" }, figures.map(function ([key, value]) {
        return h("div", {}, [h("span", { text: t(key) }), h("strong", { text: money(value, cur) })]);
      })),
      h("ul", { class: "possible" }, leg.possible.map(function (p) { return possible(p, cur); })),
      leg.deferred_refunds.map(function (d) {
        return h("div", { class: "waiting", text: t("waiting") + ": " + money(d.amount, cur) + " — " + t("runs") + " " + when(d.run_at, true) });
      }),
      leg.problems.map(function (p) { return h("div", { class: "problems", text: t("problems") + ": " + p.message }); }),
      h("details", {}, [
        h("summary", { text: t("history") + " (" + leg.history.length + ")" }),
        leg.history.length
          ? h("table", { class: "history" }, leg.history.map(function (e) {
              return h("tr", {}, [h("td", { text: when(e.time, true) }), h("td", { text: e.outcome }),
                h("td", { text: e.amount ? money(e.amount, cur) : "" }), h("td", { text: e.message })]);
            }))
          : h("p", { class: "muted", text: t("noHistory") }),
      ]),
      h("button", { type: "button", class: "btn", "data-action": "check", onclick: function () { runCheck(item.transaction_id); }, text: check && check.pending ? t("checking") : t("check"), disabled: check && check.pending }),
      check && !check.pending ? h("div", { class: "check-result", role: "status", text: checkText(check) }) : null,
    ]);
  }

  function checkText(check) {
    if (check.error) return t("error") + check.error;
    if (!check.ok) return t("checkFailed") + ": " + check.message;
    if (check.difference) return t("checkDiff") + ": " + check.difference;
    return t("checkSame") + " (" + check.status + ")";
  }

  async function runCheck(transactionId) {
    state.checks[transactionId] = { pending: true };
    render();
    try {
      state.checks[transactionId] = await api("check", { order_id: orderId, transaction_id: transactionId });
    } catch (e) {
      state.checks[transactionId] = { error: e.message };
    }
    render();
  }

  function grantBlockText(g, cur) {
    const plan = g.plan;
    return t("grant_" + plan.block, {
      leg: plan.leg_label, allows: money(plan.leg_allows, cur), reason: plan.leg_reason || "-", amount: money(g.amount, cur),
    });
  }

  function renderGrants() {
    const box = $("grants");
    box.replaceChildren();
    const grants = state.view && state.view.granted_refunds;
    if (!grants) { box.hidden = true; return; }
    const cur = (state.view.order && state.view.order.currency) || "EUR";
    if (!grants.readable) {
      box.hidden = false;
      box.append(h("h3", { text: t("grantsTitle") }), h("p", { class: "muted grants-unreadable",
        text: grants.unreadable === "permission" ? t("grantsPermission", { permission: grants.permission }) : t("grantsUnavailable") }));
      return;
    }
    box.hidden = !grants.items.length;
    if (!grants.items.length) return;
    box.append(h("h3", { text: t("grantsTitle") }));
    grants.items.forEach(function (g) {
      const picked = state.grant && state.grant.id === g.id;
      box.append(h("div", { class: "grant" + (picked ? " picked" : ""), "data-grant": g.id }, [
        h("div", { class: "grant-head" }, [
          h("strong", { text: money(g.amount, g.currency || cur) }),
          h("span", { text: g.reason || "" }),
          h("span", { class: "badge " + (g.status === "FAILURE" ? "bad" : "sandbox"), text: t("grantStatus_" + g.status) }),
          g.transaction_id && !g.plan.leg_label ? null
            : h("span", { class: "muted", text: g.transaction_id ? t("grantOn", { leg: g.plan.leg_label }) : t("grantUntied") }),
        ]),
        g.lines.length ? h("div", { class: "muted", text: g.lines.join(", ") }) : null,
        g.plan.possible
          ? h("button", { type: "button", class: "btn", "data-action": "use-grant", onclick: function () { pickGrant(g); }, text: t("grantUse") })
          : h("div", { class: "grant-blocked" }, [h("p", { text: grantBlockText(g, cur) }),
              g.plan.block === "leg_blocked" || g.plan.block === "no_single_leg" ? h("p", { text: t("grantAlternatives") }) : null]),
      ]));
    });
  }

  function pickGrant(g) {
    state.grant = g;
    state.grantResult = null;
    state.proposal = null;
    state.results = null;
    $("split-amount").value = g.amount;
    render();
  }

  function renderGrantProposal(box) {
    const g = state.grant;
    const cur = (state.view && state.view.order.currency) || "EUR";
    const result = state.grantResult;
    box.append(h("div", { class: "grant-plan", "data-grant-plan": g.id }, [
      h("p", { text: t("grantPlan", { leg: g.plan.label, amount: money(g.amount, cur) }) }),
      g.plan.assigns ? h("p", { class: "muted", text: t("grantPlanAssigns", { leg: g.plan.label }) }) : null,
      result ? h("p", { role: "status", text: result.requested ? t("requested") : t("notRequested") + ": " + result.message }) : null,
    ]));
    if (!result) {
      box.append(h("button", { type: "button", class: "btn primary", id: "grant-confirm", onclick: confirmGrant, text: t("grantConfirm") }));
    }
  }

  async function confirmGrant() {
    const g = state.grant;
    try {
      state.grantResult = await api("grant", { order_id: orderId, granted_refund_id: g.id });
      if (state.grantResult.requested) {
        post("notification", { status: "success", title: "Up2pay", text: t("requested") });
        post("refreshEntity", {});
      }
    } catch (e) {
      banner(t("error") + e.message);
    }
    renderProposal();
    load();
  }

  function renderProposal() {
    const box = $("proposal");
    box.replaceChildren();
    if (state.grant) { renderGrantProposal(box); return; }
    const p = state.proposal;
    if (!p) return;
    const cur = (state.view && state.view.order.currency) || "EUR";
    const results = {};
    (state.results || []).forEach(function (r) { results[r.transaction_id] = r; });
    if (p.parts.length) {
      box.append(h("table", { class: "proposal-table" }, [
        h("tr", {}, [h("th", { text: t("leg") }), h("th", { class: "num", text: t("allows") }), h("th", { class: "num", text: t("askNow") }), h("th", { text: "" })]),
        p.parts.map(function (part) {
          const leg = p.legs.find(function (l) { return l.transaction_id === part.transaction_id; }) || {};
          const result = results[part.transaction_id];
          return h("tr", { "data-part": part.transaction_id }, [h("td", { text: part.label }), h("td", { class: "num", text: money(leg.refundable_now || 0, cur) }),
            h("td", { class: "num", text: money(part.amount, cur) }),
            h("td", { text: result ? (result.requested ? t("requested") : t("notRequested") + ": " + result.message) : "" })]);
        }),
      ]));
    } else {
      box.append(h("p", { class: "muted", text: t("nothingToAsk") }));
    }
    if (Number(p.shortfall) > 0) {
      box.append(h("div", { class: "shortfall" }, [
        h("p", { text: t("shortfall", { amount: money(p.shortfall, cur) }) }),
        h("ul", {}, p.explanations.map(function (e) { return h("li", { text: e }); })),
        h("p", { text: t("alternatives") }),
      ]));
    }
    const grants = state.view && state.view.granted_refunds;
    if (p.parts.length && grants && grants.items.length) box.append(h("p", { class: "muted", text: t("grantsStayOpen") }));
    if (p.parts.length && !state.results) {
      box.append(h("button", { type: "button", class: "btn primary", id: "split-confirm", onclick: confirmSplit, text: t("confirm") }));
    }
  }

  async function propose(event) {
    event.preventDefault();
    state.results = null;
    state.grant = null;
    state.grantResult = null;
    try {
      state.proposal = await api("propose", {
        order_id: orderId,
        amount: $("split-amount").value.trim().replace(",", "."),
        strategy: $("split-strategy").value,
      });
      banner("");
    } catch (e) {
      banner(t("error") + e.message);
    }
    renderProposal();
  }

  async function confirmSplit() {
    const p = state.proposal;
    const reason = $("split-reason").value.trim();
    try {
      const answer = await api("confirm", {
        order_id: orderId,
        parts: p.parts.map(function (part) { return { transaction_id: part.transaction_id, amount: part.amount }; }),
        reason_reference: reason || null,
      });
      state.results = answer.results;
      post("notification", { status: "success", title: "Up2pay", text: t("requested") });
      post("refreshEntity", {});
    } catch (e) {
      banner(t("error") + e.message);
    }
    renderProposal();
    load();
  }

  function render() {
    document.documentElement.lang = state.locale;
    document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.dataset.i18n); });
    const legs = $("legs");
    legs.replaceChildren();
    if (state.view) {
      if (!state.view.items.length) legs.append(h("p", { class: "panel muted", text: t("noLegs") }));
      state.view.items.forEach(function (item) { legs.append(legCard(item)); });
    }
    $("split").hidden = !(state.view && state.view.items.length);
    if (params.get("view") === "refund") legs.hidden = false;
    renderGrants();
    renderProposal();
  }

  applyTheme(params.get("theme"));
  if (!params.get("theme") && window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches) applyTheme("dark");
  $("split-form").addEventListener("submit", propose);
  render();
  post("notifyReady", {});
})();
