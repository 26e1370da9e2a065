// Up2pay configuration page, shown by the Saleor Dashboard in an iframe (appUrl).
//
// App Bridge (as saleor/app-sdk speaks it): the Dashboard posts `handshake` with a token (on
// iframe load, and again after our `notifyReady`), then `tokenRefresh`, `theme` and
// `localeChanged`. Messages are accepted only from the parent window, from the Dashboard's
// origin (document.referrer, as app-sdk checks) and from an origin the app allows
// (DASHBOARD_ORIGINS + the store's own origin, handed over by the server). Every API call sends
// the token in `authorization-bearer` and the store in `saleor-api-url`, like app-sdk does.
// No third-party code, nothing to build.
"use strict";

(function () {
  const HANDSHAKE_TIMEOUT_MS = 6000;
  const TOKEN_WAIT_MS = 3000;

  const METHOD_CODES = ["APETIZ", "SODEXO", "UPCHEQUDEJ", "CVCONNECT"];
  const METHOD_LABELS = {
    APETIZ: "Bimpli (Apetiz)",
    SODEXO: "Pluxee",
    UPCHEQUDEJ: "Up Déjeuner",
    CVCONNECT: "Chèque-Vacances Connect",
  };
  const LEG_LABELS = {
    en: { LIMOCB: "Card complement", CARD: "Card" },
    fr: { LIMOCB: "Complément carte", CARD: "Carte" },
  };
  const KIND_LABELS = {
    en: { ipn: "Notification", gae: "Back-office call", session: "Payment started", refund_scheduled: "Refund scheduled" },
    fr: { ipn: "Notification", gae: "Opération de gestion", session: "Paiement initié", refund_scheduled: "Remboursement programmé" },
  };
  const METHOD_KIND = { APETIZ: "meal", SODEXO: "meal", UPCHEQUDEJ: "meal", CVCONNECT: "holiday" };

  const MESSAGES = {
    en: {
      title: "Up2pay e-Transactions",
      subtitle: "Meal vouchers and Chèque-Vacances Connect through Up2pay e-Transactions",
      outsideTitle: "Open this page from the Saleor Dashboard",
      outsideText:
        "This page configures the Up2pay app of a Saleor store. It only works inside the Saleor Dashboard: go to Apps, open “Up2pay”, and the page will appear there.",
      connecting: "Connecting to the Saleor Dashboard…",
      configurations: "Configurations",
      configurationsHelp:
        "One configuration per Up2pay contract. Each channel uses one of them, or the default.",
      addConfiguration: "Add configuration",
      channels: "Channels",
      channelsHelp: "Choose which configuration each channel uses. Vouchers are paid in euros only.",
      activity: "Activity",
      activityHelp: "Latest Up2pay notifications and back-office calls: where is my money?",
      refresh: "Refresh",
      signedInAs: "Signed in as {email}",
      defaultName: "Default (app settings)",
      defaultHelp:
        "Used by every channel without a configuration. Set by the UP2PAY_* settings of the app server.",
      usedBy: "Used by: {channels}",
      unused: "Not used by any channel yet.",
      edit: "Edit",
      delete: "Delete",
      confirmDelete: "Confirm delete",
      check: "Check credentials",
      checking: "Checking with Up2pay…",
      envSandbox: "Sandbox",
      envTest: "Test (recette)",
      envLive: "Live (production)",
      envSandboxHelp: "The app's local emulator",
      envTestHelp: "Up2pay pre-production, no real money",
      envLiveHelp: "Real payments",
      keyHint: "HMAC key ••••{hint}",
      newConfiguration: "New configuration",
      editConfiguration: "Edit “{name}”",
      name: "Name",
      namePlaceholder: "e.g. Main shop, contract 2025",
      environment: "Environment",
      site: "SITE",
      rang: "RANG",
      identifiant: "IDENTIFIANT",
      siteHint: "7 digits",
      rangHint: "2 or 3 digits",
      identifiantHint: "1 to 9 digits",
      hmacKey: "HMAC key",
      hmacKeyHintNew:
        "128 hexadecimal characters, generated in the Up2pay back office (Vision). Stored encrypted.",
      hmacKeyHintKeep:
        "The stored key ends with {hint}. Leave empty to keep it, or paste a new key to replace it.",
      methods: "Voucher methods",
      kindMeal: "Meal voucher",
      kindHoliday: "Holiday voucher",
      captureMode: "Capture",
      captureFollow: "Follow Saleor",
      captureFollowHelp: "Authorize or charge as the channel's settings ask",
      captureAlways: "Always charge",
      captureAlwaysHelp: "Debit at once, even when Saleor asks for an authorization",
      mealRules: "Meal-voucher rules",
      ruleSet2026: "France 2026: all food products, never shipping",
      ruleSet2026Help: "In force until 31 December 2026",
      ruleSet2027: "France 2027 (announced, not confirmed)",
      ruleSet2027Help: "Groceries except alcohol, sweets, baby food and pet food: map them to excluded categories",
      mealEligibleProductTypes: "Meal-voucher eligible product types",
      mealEligibleProductTypesHint: "Product type slugs, comma-separated (e.g. food, fresh-food). Shipping is never eligible.",
      mealEligibleCategories: "Meal-voucher eligible categories",
      mealEligibleCategoriesHint: "Category slugs, comma-separated: a line qualifies by its type or its category.",
      mealExcludedCategories: "Categories never paid by meal vouchers",
      mealExcludedCategoriesHint: "Category slugs, comma-separated (e.g. wine, sweets, pet-food).",
      methodMinimums: "Minimum per payment",
      methodMinimumsHint: "Optional, e.g. APETIZ=1.50, CVCONNECT=20.00 (not confirmed rules: off by default).",
      storefrontOrigins: "Storefront origins",
      storefrontOriginsHint: "Scheme and host of the shops shoppers come back to after paying (returnUrl), comma-separated, without a path. Required in test and live.",
      mealUnrestricted:
        "No meal-voucher eligibility configured: meal vouchers may pay the whole checkout, shipping included. You are liable for what they pay: set the eligible product types or categories.",
      noOrigins: "No storefront origins: test and live payments are refused until you set them.",
      save: "Save",
      saving: "Saving…",
      cancel: "Cancel",
      saved: "Configuration saved.",
      deleted: "Configuration deleted.",
      mapped: "Channel {channel} now uses {config}.",
      channel: "Channel",
      currency: "Currency",
      configuration: "Configuration",
      status: "Status",
      useDefault: "Default (app settings)",
      eligible: "Eligible",
      inactive: "Inactive",
      notEligible: "Not eligible: vouchers need EUR",
      goneFromSaleor: "Deleted in Saleor",
      noChannels: "Saleor lists no channels.",
      time: "Time",
      reference: "Reference",
      leg: "Leg",
      amount: "Amount",
      outcome: "Outcome",
      message: "Message",
      noActivity: "No payment activity yet.",
      problems: "Problems",
      reloadProblems: "Reload",
      problemsHelp:
        "What needs a look: payments Up2pay did not confirm, legs Saleor did not take. Each disappears once resolved.",
      noProblems: "No problem: every payment Up2pay told the app about is in Saleor.",
      problemKey: "Problem",
      problemCount: "Times",
      firstSeen: "First seen",
      lastSeen: "Last seen",
      critical: "Critical",
      unattachedIpns: "{count} Up2pay notification(s) for unknown references could not be tied to any Saleor instance (kept for investigation).",
      checkAccepted:
        "Accepted: Up2pay ({env}) recognises this SITE, RANG and HMAC key. (IDENTIFIANT is checked by the payment page at the first payment.)",
      checkRefused:
        "Refused by Up2pay ({env}): check SITE, RANG and the HMAC key. A new HMAC key only works once confirmed from the e-mail Up2pay sends.",
      checkUnreachable: "Up2pay ({env}) could not be reached, so nothing was checked. Try again later. ({message})",
      checkInconclusive: "Up2pay ({env}) answered code {code}: {message}",
      fixFields: "Some fields need attention before saving.",
      // field errors (codes from the API, same rules checked here first)
      err_name_required: "Give the configuration a name.",
      err_name_too_long: "The name is at most 80 characters.",
      err_site_format: "SITE is exactly 7 digits, e.g. 1999888.",
      err_rang_format: "RANG is 2 or 3 digits, e.g. 32.",
      err_identifiant_format: "IDENTIFIANT is 1 to 9 digits, e.g. 107904482.",
      err_hmac_key_format: "The HMAC key is 128 hexadecimal characters (0-9, A-F).",
      err_hmac_key_required: "Enter the HMAC key.",
      err_methods_required: "Enable at least one voucher method.",
      err_invalid_choice: "Choose one of the options.",
      err_configuration_in_use: "This configuration is used by a channel: map the channel to another configuration first.",
      err_channel_not_eligible: "This channel does not use euros: Up2pay vouchers cannot be offered there.",
      err_unknown_channel: "This channel does not exist in Saleor.",
      err_not_found: "This configuration no longer exists. Reload the page.",
      // API errors
      api_MISSING_DASHBOARD_TOKEN: "The Dashboard did not hand over a session. Reload the page from the Saleor Dashboard.",
      api_NOT_INSTALLED: "This Saleor store has not installed the app (or uninstalled it).",
      api_INVALID_TOKEN: "The Dashboard session was not accepted. Reload the page from the Saleor Dashboard.",
      api_TOKEN_EXPIRED: "Your Dashboard session expired. Reload the page to continue.",
      api_MISSING_PERMISSION: "Your Saleor account needs the “Handle payments” permission (HANDLE_PAYMENTS) to configure payments.",
      api_SALEOR_UNAVAILABLE: "Saleor did not answer. Try again in a moment.",
      api_INTERNAL_ERROR: "The app hit an internal error. Try again; if it persists, contact the app's operator.",
      api_network: "The app could not be reached. Check your connection and try again.",
    },
    fr: {
      title: "Up2pay e-Transactions",
      subtitle: "Titres-restaurant et Chèque-Vacances Connect avec Up2pay e-Transactions",
      outsideTitle: "Ouvrez cette page depuis le Dashboard Saleor",
      outsideText:
        "Cette page configure l’app Up2pay d’une boutique Saleor. Elle ne fonctionne que dans le Dashboard Saleor : allez dans Apps, ouvrez « Up2pay », et la page s’y affichera.",
      connecting: "Connexion au Dashboard Saleor…",
      configurations: "Configurations",
      configurationsHelp:
        "Une configuration par contrat Up2pay. Chaque canal utilise l’une d’elles, ou celle par défaut.",
      addConfiguration: "Ajouter une configuration",
      channels: "Canaux",
      channelsHelp:
        "Choisissez la configuration de chaque canal. Les titres se paient uniquement en euros.",
      activity: "Activité",
      activityHelp: "Dernières notifications Up2pay et opérations de gestion : où est mon argent ?",
      refresh: "Actualiser",
      signedInAs: "Connecté en tant que {email}",
      defaultName: "Par défaut (réglages de l’app)",
      defaultHelp:
        "Utilisée par tout canal sans configuration. Définie par les réglages UP2PAY_* du serveur de l’app.",
      usedBy: "Utilisée par : {channels}",
      unused: "Aucun canal ne l’utilise encore.",
      edit: "Modifier",
      delete: "Supprimer",
      confirmDelete: "Confirmer la suppression",
      check: "Vérifier les identifiants",
      checking: "Vérification auprès d’Up2pay…",
      envSandbox: "Bac à sable",
      envTest: "Test (recette)",
      envLive: "Production",
      envSandboxHelp: "L’émulateur local de l’app",
      envTestHelp: "Pré-production Up2pay, sans argent réel",
      envLiveHelp: "Paiements réels",
      keyHint: "Clé HMAC ••••{hint}",
      newConfiguration: "Nouvelle configuration",
      editConfiguration: "Modifier « {name} »",
      name: "Nom",
      namePlaceholder: "ex. Boutique principale, contrat 2025",
      environment: "Environnement",
      site: "SITE",
      rang: "RANG",
      identifiant: "IDENTIFIANT",
      siteHint: "7 chiffres",
      rangHint: "2 ou 3 chiffres",
      identifiantHint: "1 à 9 chiffres",
      hmacKey: "Clé HMAC",
      hmacKeyHintNew:
        "128 caractères hexadécimaux, générée dans le back-office Up2pay (Vision). Stockée chiffrée.",
      hmacKeyHintKeep:
        "La clé enregistrée se termine par {hint}. Laissez vide pour la garder, ou collez une nouvelle clé pour la remplacer.",
      methods: "Moyens de paiement",
      kindMeal: "Titre-restaurant",
      kindHoliday: "Chèque-vacances",
      captureMode: "Encaissement",
      captureFollow: "Suivre Saleor",
      captureFollowHelp: "Autoriser ou débiter selon les réglages du canal",
      captureAlways: "Toujours débiter",
      captureAlwaysHelp: "Débit immédiat, même quand Saleor demande une autorisation",
      mealRules: "Règles des titres-restaurant",
      ruleSet2026: "France 2026 : tous les produits alimentaires, jamais la livraison",
      ruleSet2026Help: "En vigueur jusqu'au 31 décembre 2026",
      ruleSet2027: "France 2027 (annoncée, non confirmée)",
      ruleSet2027Help: "Courses sauf alcool, confiseries, alimentation infantile et animale : associez-les aux catégories exclues",
      mealEligibleProductTypes: "Types de produits payables en titres-restaurant",
      mealEligibleProductTypesHint: "Slugs de types de produits, séparés par des virgules (ex. food, frais). La livraison n'est jamais éligible.",
      mealEligibleCategories: "Catégories payables en titres-restaurant",
      mealEligibleCategoriesHint: "Slugs de catégories, séparés par des virgules : une ligne est éligible par son type ou sa catégorie.",
      mealExcludedCategories: "Catégories jamais payées en titres-restaurant",
      mealExcludedCategoriesHint: "Slugs de catégories, séparés par des virgules (ex. vins, confiseries, animalerie).",
      methodMinimums: "Minimum par paiement",
      methodMinimumsHint: "Facultatif, ex. APETIZ=1.50, CVCONNECT=20.00 (règles non confirmées : désactivé par défaut).",
      storefrontOrigins: "Origines de la boutique",
      storefrontOriginsHint: "Schéma et hôte des boutiques où reviennent les clients après paiement (returnUrl), séparés par des virgules, sans chemin. Obligatoire en test et en production.",
      mealUnrestricted:
        "Aucune éligibilité aux titres-restaurant configurée : ils peuvent payer toute la commande, livraison comprise. Vous en êtes responsable : indiquez les types de produits ou catégories éligibles.",
      noOrigins: "Aucune origine de boutique : les paiements en test et en production sont refusés tant qu'elles ne sont pas renseignées.",
      save: "Enregistrer",
      saving: "Enregistrement…",
      cancel: "Annuler",
      saved: "Configuration enregistrée.",
      deleted: "Configuration supprimée.",
      mapped: "Le canal {channel} utilise maintenant {config}.",
      channel: "Canal",
      currency: "Devise",
      configuration: "Configuration",
      status: "État",
      useDefault: "Par défaut (réglages de l’app)",
      eligible: "Éligible",
      inactive: "Inactif",
      notEligible: "Non éligible : les titres exigent l’euro",
      goneFromSaleor: "Supprimé dans Saleor",
      noChannels: "Saleor ne liste aucun canal.",
      time: "Date",
      reference: "Référence",
      leg: "Part",
      amount: "Montant",
      outcome: "Résultat",
      message: "Message",
      noActivity: "Aucune activité de paiement pour l’instant.",
      problems: "Problèmes",
      reloadProblems: "Recharger",
      problemsHelp:
        "Ce qui demande votre attention : paiements non confirmés par Up2pay, parts que Saleor n’a pas prises. Chacun disparaît une fois résolu.",
      noProblems: "Aucun problème : chaque paiement annoncé par Up2pay est dans Saleor.",
      problemKey: "Problème",
      problemCount: "Fois",
      firstSeen: "Première fois",
      lastSeen: "Dernière fois",
      critical: "Critique",
      unattachedIpns: "{count} notification(s) Up2pay pour des références inconnues n’ont pu être rattachées à aucune instance Saleor (conservées pour analyse).",
      checkAccepted:
        "Accepté : Up2pay ({env}) reconnaît ce SITE, ce RANG et cette clé HMAC. (L’IDENTIFIANT est vérifié par la page de paiement au premier paiement.)",
      checkRefused:
        "Refusé par Up2pay ({env}) : vérifiez le SITE, le RANG et la clé HMAC. Une nouvelle clé HMAC ne fonctionne qu’une fois confirmée depuis l’e-mail envoyé par Up2pay.",
      checkUnreachable: "Up2pay ({env}) est injoignable : rien n’a été vérifié. Réessayez plus tard. ({message})",
      checkInconclusive: "Up2pay ({env}) a répondu le code {code} : {message}",
      fixFields: "Certains champs sont à corriger avant d’enregistrer.",
      err_name_required: "Donnez un nom à la configuration.",
      err_name_too_long: "Le nom fait au plus 80 caractères.",
      err_site_format: "Le SITE compte exactement 7 chiffres, ex. 1999888.",
      err_rang_format: "Le RANG compte 2 ou 3 chiffres, ex. 32.",
      err_identifiant_format: "L’IDENTIFIANT compte 1 à 9 chiffres, ex. 107904482.",
      err_hmac_key_format: "La clé HMAC compte 128 caractères hexadécimaux (0-9, A-F).",
      err_hmac_key_required: "Saisissez la clé HMAC.",
      err_methods_required: "Activez au moins un moyen de paiement.",
      err_invalid_choice: "Choisissez l’une des options.",
      err_configuration_in_use: "Un canal utilise cette configuration : associez-le d’abord à une autre configuration.",
      err_channel_not_eligible: "Ce canal n’est pas en euros : les titres Up2pay n’y sont pas proposés.",
      err_unknown_channel: "Ce canal n’existe pas dans Saleor.",
      err_not_found: "Cette configuration n’existe plus. Rechargez la page.",
      api_MISSING_DASHBOARD_TOKEN: "Le Dashboard n’a pas transmis de session. Rechargez la page depuis le Dashboard Saleor.",
      api_NOT_INSTALLED: "Cette boutique Saleor n’a pas installé l’app (ou l’a désinstallée).",
      api_INVALID_TOKEN: "La session du Dashboard n’a pas été acceptée. Rechargez la page depuis le Dashboard Saleor.",
      api_TOKEN_EXPIRED: "Votre session Dashboard a expiré. Rechargez la page pour continuer.",
      api_MISSING_PERMISSION: "Votre compte Saleor doit avoir la permission « Gérer les paiements » (HANDLE_PAYMENTS) pour configurer les paiements.",
      api_SALEOR_UNAVAILABLE: "Saleor n’a pas répondu. Réessayez dans un instant.",
      api_INTERNAL_ERROR: "L’app a rencontré une erreur interne. Réessayez ; si cela persiste, contactez l’exploitant de l’app.",
      api_network: "L’app est injoignable. Vérifiez votre connexion et réessayez.",
    },
  };

  // --- state ------------------------------------------------------------------------------

  const params = new URLSearchParams(window.location.search);
  const apiPath = metaContent("up2pay-api");
  const allowedOrigins = metaContent("up2pay-dashboard-origins").split(/\s+/).filter(Boolean);
  const saleorApiUrl = params.get("saleorApiUrl");
  const referrerOrigin = originOf(document.referrer);

  const state = {
    token: null,
    tokenWaiters: [],
    locale: pickLocale(params.get("locale") || navigator.language || "en"),
    started: false,
    viewer: null,
    defaultConfig: null,
    configs: [],
    channels: [],
    channelsError: null,
    activity: [],
    problems: { items: [], unattachedUnknownIpns: 0 },
    problemsError: null,
    editing: null, // null: closed; {}: new; config: editing
    checks: {}, // config id -> {pending} | result
    deleteArmed: null,
  };

  // --- helpers ----------------------------------------------------------------------------

  function metaContent(name) {
    const el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") || "" : "";
  }

  function originOf(url) {
    try {
      return url ? new URL(url).origin : null;
    } catch (e) {
      return null;
    }
  }

  function pickLocale(value) {
    return String(value).toLowerCase().startsWith("fr") ? "fr" : "en";
  }

  function t(key, values) {
    const table = MESSAGES[state.locale] || MESSAGES.en;
    let text = key in table ? table[key] : MESSAGES.en[key] || key;
    if (values) {
      for (const name of Object.keys(values)) {
        text = text.split("{" + name + "}").join(String(values[name]));
      }
    }
    return text;
  }

  function h(tag, attrs, children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") el.className = value;
      else if (name === "text") el.textContent = value;
      else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (value === true) el.setAttribute(name, "");
      else el.setAttribute(name, value);
    }
    for (const child of [].concat(children || [])) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function $(id) {
    return document.getElementById(id);
  }

  // The API speaks GraphQL enum names (SANDBOX); the page uses lower-case keys.
  function envKey(env) {
    return String(env || "").toLowerCase();
  }

  function envLabel(env) {
    return t({ sandbox: "envSandbox", test: "envTest", live: "envLive" }[envKey(env)] || "envSandbox");
  }

  function originAllowed(origin) {
    let url;
    try {
      url = new URL(origin);
    } catch (e) {
      return false;
    }
    return allowedOrigins.some(function (pattern) {
      let p;
      try {
        p = new URL(pattern.replace("://*.", "://wildcard."));
      } catch (e) {
        return false;
      }
      if (p.protocol !== url.protocol || p.port !== url.port) return false;
      if (pattern.includes("://*.")) {
        return url.hostname.endsWith(p.hostname.slice("wildcard".length));
      }
      return p.hostname === url.hostname;
    });
  }

  // --- App Bridge -------------------------------------------------------------------------

  function postToDashboard(type, payload) {
    const message = { type: type, payload: Object.assign({ actionId: newActionId() }, payload) };
    // The target origin is the Dashboard's when known; App Bridge actions carry no secret.
    window.parent.postMessage(message, referrerOrigin || "*");
  }

  function newActionId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    return String(Date.now()) + Math.random().toString(16).slice(2);
  }

  function notifyDashboard(status, text) {
    postToDashboard("notification", { status: status, title: "Up2pay", text: text });
  }

  function onMessage(event) {
    if (event.source !== window.parent) return;
    if (referrerOrigin && event.origin !== referrerOrigin) return;
    if (!originAllowed(event.origin)) return;
    const data = event.data;
    if (!data || typeof data !== "object" || typeof data.type !== "string") return;
    const payload = data.payload || {};
    switch (data.type) {
      case "handshake":
      case "tokenRefresh":
        if (typeof payload.token === "string" && payload.token) {
          setToken(payload.token);
        }
        break;
      case "theme":
        applyTheme(payload.theme);
        break;
      case "localeChanged":
        if (payload.locale) {
          state.locale = pickLocale(payload.locale);
          renderAll();
        }
        break;
      default:
        break;
    }
  }

  function setToken(token) {
    state.token = token;
    const waiters = state.tokenWaiters.splice(0);
    waiters.forEach(function (resolve) {
      resolve(token);
    });
    if (!state.started) {
      state.started = true;
      start();
    }
  }

  function waitForNewToken(previous) {
    return new Promise(function (resolve) {
      if (state.token && state.token !== previous) {
        resolve(state.token);
        return;
      }
      const timer = setTimeout(function () {
        resolve(null);
      }, TOKEN_WAIT_MS);
      state.tokenWaiters.push(function (token) {
        clearTimeout(timer);
        resolve(token);
      });
    });
  }

  function applyTheme(theme) {
    if (theme === "dark" || theme === "light") {
      document.documentElement.dataset.theme = theme;
    }
  }

  // --- API --------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(code, message) {
      super(message || code);
      this.code = code;
    }
  }

  async function api(query, variables, retried) {
    const sentToken = state.token;
    let response;
    try {
      response = await fetch(apiPath, {
        method: "POST",
        credentials: "omit",
        headers: {
          "content-type": "application/json",
          "authorization-bearer": sentToken || "",
          "saleor-api-url": saleorApiUrl || "",
        },
        body: JSON.stringify({ query: query, variables: variables || {} }),
      });
    } catch (e) {
      throw new ApiError("network");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      throw new ApiError("INTERNAL_ERROR");
    }
    if (!response.ok) {
      const code = (body && body.error && body.error.code) || "INTERNAL_ERROR";
      if (code === "TOKEN_EXPIRED" && !retried) {
        // The Dashboard refreshes tokens with `tokenRefresh`: give it a moment, retry once.
        const fresh = await waitForNewToken(sentToken);
        if (fresh) return api(query, variables, true);
      }
      throw new ApiError(code, body && body.error && body.error.message);
    }
    if (body.errors && body.errors.length) {
      const first = body.errors[0];
      throw new ApiError((first.extensions && first.extensions.code) || "INTERNAL_ERROR", first.message);
    }
    return body.data;
  }

  function apiErrorText(error) {
    const key = "api_" + (error && error.code);
    const table = MESSAGES[state.locale];
    if (key in table) return table[key];
    return (error && error.message) || t("api_INTERNAL_ERROR");
  }

  const CONFIG_FIELDS =
    "id name environment site rang identifiant keyHint methods captureMode isDefault channels " +
    "mealEligibleProductTypes mealEligibleCategories mealExcludedCategories mealRuleSet mealRestricted " +
    "methodMinimums { method amount } storefrontOrigins";

  const Q_ALL =
    "query Page { viewer { saleorApiUrl email } defaultConfiguration { " +
    CONFIG_FIELDS +
    " } configurations { " +
    CONFIG_FIELDS +
    " } activity(limit: 50) { time kind channel reference leg amount currency outcome message pspReference } }";
  const Q_CHANNELS =
    "query Channels { channels { id slug name currencyCode isActive eligible inSaleor configurationId } }";
  const Q_ACTIVITY =
    "query Activity { activity(limit: 50) { time kind channel reference leg amount currency outcome message pspReference } }";
  const Q_PROBLEMS =
    "query Problems { problems { items { key message count firstSeen lastSeen critical } unattachedUnknownIpns } }";
  const M_SAVE =
    "mutation Save($input: ConfigurationInput!) { saveConfiguration(input: $input) { configuration { " +
    CONFIG_FIELDS +
    " } errors { field code message } } }";
  const M_DELETE =
    "mutation Delete($id: ID!) { deleteConfiguration(id: $id) { deletedId errors { field code message } } }";
  const M_MAP =
    "mutation Map($slug: String!, $config: ID) { mapChannel(channelSlug: $slug, configurationId: $config) { channel { slug configurationId } errors { field code message } } }";
  const M_CHECK =
    "mutation Check($input: CredentialsInput!) { checkCredentials(input: $input) { result { ok verdict code message environment } errors { field code message } } }";

  // --- flows ------------------------------------------------------------------------------

  async function start() {
    $("loading").hidden = true;
    $("outside").hidden = true;
    try {
      const data = await api(Q_ALL);
      state.viewer = data.viewer;
      state.defaultConfig = data.defaultConfiguration;
      state.configs = data.configurations;
      state.activity = data.activity;
      $("main").hidden = false;
      hideBanner();
      renderAll();
    } catch (error) {
      showBanner(apiErrorText(error));
      return;
    }
    await loadChannels();
    await loadProblems();
  }

  async function loadProblems() {
    try {
      const data = await api(Q_PROBLEMS);
      state.problems = data.problems;
      state.problemsError = null;
    } catch (error) {
      state.problemsError = apiErrorText(error);
    }
    renderProblems();
  }

  async function reloadConfigs() {
    const data = await api(Q_ALL);
    state.defaultConfig = data.defaultConfiguration;
    state.configs = data.configurations;
    state.activity = data.activity;
    renderConfigs();
    renderActivity();
  }

  async function loadChannels() {
    try {
      const data = await api(Q_CHANNELS);
      state.channels = data.channels;
      state.channelsError = null;
    } catch (error) {
      state.channelsError = apiErrorText(error);
    }
    renderChannels();
  }

  async function refreshActivity() {
    try {
      const data = await api(Q_ACTIVITY);
      state.activity = data.activity;
      renderActivity();
    } catch (error) {
      showBanner(apiErrorText(error));
    }
  }

  async function runCheck(key, input, resultTarget) {
    state.checks[key] = { pending: true };
    resultTarget();
    try {
      const data = await api(M_CHECK, { input: input });
      const payload = data.checkCredentials;
      if (payload.errors.length) {
        state.checks[key] = { fieldErrors: payload.errors };
      } else {
        state.checks[key] = payload.result;
      }
    } catch (error) {
      state.checks[key] = { ok: false, verdict: "ERROR", message: apiErrorText(error) };
    }
    resultTarget();
  }

  function checkResultNode(result) {
    if (!result) return null;
    if (result.pending) {
      return h("p", { class: "check-result pending", role: "status", "data-test": "check-result" }, t("checking"));
    }
    if (result.fieldErrors) {
      return h(
        "p",
        { class: "check-result bad", role: "status", "data-test": "check-result" },
        result.fieldErrors.map(fieldErrorText).join(" ")
      );
    }
    const env = envLabel(result.environment);
    let text;
    if (result.ok) text = t("checkAccepted", { env: env });
    else if (result.verdict === "REFUSED") text = t("checkRefused", { env: env });
    else if (result.verdict === "UNREACHABLE") text = t("checkUnreachable", { env: env, message: result.message });
    else if (result.verdict === "INCONCLUSIVE")
      text = t("checkInconclusive", { env: env, code: result.code || "?", message: result.message });
    else text = result.message;
    return h(
      "p",
      { class: "check-result " + (result.ok ? "ok" : "bad"), role: "status", "data-test": "check-result" },
      text
    );
  }

  function fieldErrorText(error) {
    const key = "err_" + error.code;
    const table = MESSAGES[state.locale];
    return key in table ? table[key] : error.message;
  }

  // --- rendering: shell -------------------------------------------------------------------

  function renderStatic() {
    document.documentElement.lang = state.locale;
    document.querySelectorAll("[data-i18n]").forEach(function (el) {
      el.textContent = t(el.getAttribute("data-i18n"));
    });
    document.title = t("title");
    const viewer = $("viewer");
    viewer.textContent = "";
    if (state.viewer) {
      if (state.viewer.email) viewer.append(h("div", {}, t("signedInAs", { email: state.viewer.email })));
      viewer.append(h("div", { class: "mono small" }, state.viewer.saleorApiUrl));
    }
  }

  function renderAll() {
    renderStatic();
    if (!state.started) return;
    renderConfigs();
    renderEditor();
    renderChannels();
    renderActivity();
    renderProblems();
  }

  function showBanner(text) {
    const banner = $("banner");
    banner.textContent = text;
    banner.hidden = false;
  }

  function hideBanner() {
    $("banner").hidden = true;
  }

  let toastTimer = null;
  function toast(text) {
    const el = $("toast");
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () {
      el.hidden = true;
    }, 3500);
  }

  // --- rendering: configurations ----------------------------------------------------------

  function renderConfigs() {
    const list = $("config-list");
    list.textContent = "";
    if (state.defaultConfig) list.append(configCard(state.defaultConfig));
    state.configs.forEach(function (config) {
      list.append(configCard(config));
    });
  }

  function configCard(config) {
    const isDefault = config.isDefault;
    const name = isDefault ? t("defaultName") : config.name;
    const key = config.id;
    const card = h("article", {
      class: "config-card" + (isDefault ? " default" : ""),
      "data-config-id": config.id,
      "aria-label": name,
    });
    card.append(
      h("div", { class: "card-head" }, [
        h("h3", {}, name),
        h("span", { class: "badge " + envKey(config.environment) }, envLabel(config.environment)),
      ]),
      h("div", { class: "ids mono" }, [
        h("span", {}, [h("b", {}, "SITE"), config.site]),
        h("span", {}, [h("b", {}, "RANG"), config.rang]),
        h("span", {}, [h("b", {}, "IDENTIFIANT"), config.identifiant]),
      ]),
      h("div", { class: "muted small", "data-test": "key-hint" }, t("keyHint", { hint: config.keyHint })),
      config.mealRestricted
        ? null
        : h("p", { class: "warning small", "data-test": "meal-unrestricted" }, t("mealUnrestricted")),
      (config.storefrontOrigins || []).length || envKey(config.environment) === "sandbox"
        ? null
        : h("p", { class: "warning small", "data-test": "no-origins" }, t("noOrigins")),
      h(
        "div",
        { class: "chips" },
        config.methods.map(function (code) {
          return h("span", { class: "chip" }, METHOD_LABELS[code] || code);
        })
      ),
      h(
        "p",
        { class: "muted small" },
        isDefault
          ? t("defaultHelp")
          : config.channels.length
            ? t("usedBy", { channels: config.channels.join(", ") })
            : t("unused")
      )
    );
    const actions = h("div", { class: "card-actions" });
    if (!isDefault) {
      actions.append(
        h("button", { type: "button", class: "btn small", onclick: () => openEditor(config) }, t("edit"))
      );
    }
    const checkButton = h(
      "button",
      {
        type: "button",
        class: "btn small",
        "data-action": "check",
        onclick: function () {
          runCheck(
            key,
            {
              configurationId: config.id,
              environment: config.environment.toUpperCase(),
              site: config.site,
              rang: config.rang,
              identifiant: config.identifiant,
              hmacKey: "",
            },
            renderConfigs
          );
        },
      },
      t("check")
    );
    checkButton.disabled = Boolean(state.checks[key] && state.checks[key].pending);
    actions.append(checkButton);
    if (!isDefault) {
      const armed = state.deleteArmed === config.id;
      actions.append(
        h(
          "button",
          {
            type: "button",
            class: "btn small danger" + (armed ? " confirm" : ""),
            onclick: () => (armed ? deleteConfig(config) : armDelete(config.id)),
          },
          armed ? t("confirmDelete") : t("delete")
        )
      );
    }
    card.append(actions);
    const result = checkResultNode(state.checks[key]);
    if (result) card.append(result);
    return card;
  }

  function armDelete(id) {
    state.deleteArmed = id;
    renderConfigs();
  }

  async function deleteConfig(config) {
    state.deleteArmed = null;
    try {
      const data = await api(M_DELETE, { id: config.id });
      const payload = data.deleteConfiguration;
      if (payload.errors.length) {
        showBanner(payload.errors.map(fieldErrorText).join(" "));
        renderConfigs();
        return;
      }
      hideBanner();
      toast(t("deleted"));
      if (state.editing && state.editing.id === config.id) closeEditor();
      await reloadConfigs();
      await loadChannels();
    } catch (error) {
      showBanner(apiErrorText(error));
    }
  }

  // --- rendering: editor ------------------------------------------------------------------

  function openEditor(config) {
    state.editing = config || {};
    state.checks.form = null;
    renderEditor();
    $("editor").scrollIntoView({ block: "start" });
    const first = $("config-form").querySelector("input");
    if (first) first.focus();
  }

  function closeEditor() {
    state.editing = null;
    renderEditor();
  }

  function textField(name, label, value, options) {
    const id = "f-" + name;
    const opts = options || {};
    return h("div", { class: "field" + (opts.full ? " full" : ""), "data-field": name }, [
      h("label", { for: id }, label),
      h("input", {
        id: id,
        name: name,
        type: opts.type || "text",
        value: value || "",
        class: opts.mono ? "mono" : null,
        inputmode: opts.numeric ? "numeric" : null,
        placeholder: opts.placeholder || null,
        spellcheck: "false",
        autocomplete: opts.type === "password" ? "new-password" : "off",
        "aria-describedby": id + "-hint " + id + "-error",
      }),
      h("span", { class: "hint", id: id + "-hint" }, opts.hint || ""),
      h("span", { class: "error", id: id + "-error" }),
    ]);
  }

  function choiceField(name, legend, type, choices, selected) {
    return h("fieldset", { class: "field full", "data-field": name }, [
      h("legend", {}, legend),
      h(
        "div",
        { class: "choices" },
        choices.map(function (choice) {
          return h("label", { class: "choice" }, [
            h("input", {
              type: type,
              name: name,
              value: choice.value,
              checked: selected.indexOf(choice.value) >= 0,
            }),
            h("span", {}, [choice.label, choice.help ? h("small", {}, choice.help) : null]),
          ]);
        })
      ),
      h("span", { class: "error", id: "f-" + name + "-error" }),
    ]);
  }

  function renderEditor() {
    const section = $("editor");
    const form = $("config-form");
    const config = state.editing;
    if (!config) {
      section.hidden = true;
      form.textContent = "";
      return;
    }
    section.hidden = false;
    const isNew = !config.id;
    $("editor-title").textContent = isNew
      ? t("newConfiguration")
      : t("editConfiguration", { name: config.name });
    form.textContent = "";
    form.append(
      h("div", { class: "grid" }, [
        textField("name", t("name"), config.name, { full: true, placeholder: t("namePlaceholder") }),
        choiceField(
          "environment",
          t("environment"),
          "radio",
          ["sandbox", "test", "live"].map(function (env) {
            return {
              value: env,
              label: envLabel(env),
              help: t({ sandbox: "envSandboxHelp", test: "envTestHelp", live: "envLiveHelp" }[env]),
            };
          }),
          [envKey(config.environment) || "test"]
        ),
        textField("site", t("site"), config.site, { numeric: true, mono: true, hint: t("siteHint") }),
        textField("rang", t("rang"), config.rang, { numeric: true, mono: true, hint: t("rangHint") }),
        textField("identifiant", t("identifiant"), config.identifiant, {
          numeric: true,
          mono: true,
          hint: t("identifiantHint"),
        }),
        textField("hmacKey", t("hmacKey"), "", {
          full: true,
          type: "password",
          mono: true,
          hint: isNew ? t("hmacKeyHintNew") : t("hmacKeyHintKeep", { hint: config.keyHint }),
        }),
        choiceField(
          "methods",
          t("methods"),
          "checkbox",
          METHOD_CODES.map(function (code) {
            return {
              value: code,
              label: METHOD_LABELS[code],
              help: METHOD_KIND[code] === "meal" ? t("kindMeal") : t("kindHoliday"),
            };
          }),
          config.methods || METHOD_CODES.slice()
        ),
        choiceField(
          "captureMode",
          t("captureMode"),
          "radio",
          [
            { value: "FOLLOW_SALEOR", label: t("captureFollow"), help: t("captureFollowHelp") },
            { value: "ALWAYS_CHARGE", label: t("captureAlways"), help: t("captureAlwaysHelp") },
          ],
          [(config.captureMode || "follow_saleor").toUpperCase()]
        ),
        textField("storefrontOrigins", t("storefrontOrigins"), (config.storefrontOrigins || []).join(", "), {
          full: true,
          mono: true,
          hint: t("storefrontOriginsHint"),
        }),
        choiceField(
          "mealRuleSet",
          t("mealRules"),
          "radio",
          [
            { value: "fr-2026", label: t("ruleSet2026"), help: t("ruleSet2026Help") },
            { value: "fr-2027", label: t("ruleSet2027"), help: t("ruleSet2027Help") },
          ],
          [config.mealRuleSet || "fr-2026"]
        ),
        config.id && !config.mealRestricted
          ? h("p", { class: "warning full", "data-test": "meal-unrestricted" }, t("mealUnrestricted"))
          : null,
        textField(
          "mealEligibleProductTypes",
          t("mealEligibleProductTypes"),
          (config.mealEligibleProductTypes || []).join(", "),
          { full: true, mono: true, hint: t("mealEligibleProductTypesHint") }
        ),
        textField(
          "mealEligibleCategories",
          t("mealEligibleCategories"),
          (config.mealEligibleCategories || []).join(", "),
          { full: true, mono: true, hint: t("mealEligibleCategoriesHint") }
        ),
        textField(
          "mealExcludedCategories",
          t("mealExcludedCategories"),
          (config.mealExcludedCategories || []).join(", "),
          { full: true, mono: true, hint: t("mealExcludedCategoriesHint") }
        ),
        textField(
          "methodMinimums",
          t("methodMinimums"),
          (config.methodMinimums || [])
            .map(function (m) {
              return m.method + "=" + m.amount;
            })
            .join(", "),
          { full: true, mono: true, hint: t("methodMinimumsHint") }
        ),
      ])
    );
    const saveButton = h("button", { type: "submit", class: "btn primary", id: "save-config" }, t("save"));
    const checkButton = h(
      "button",
      { type: "button", class: "btn", id: "check-form", onclick: checkForm },
      t("check")
    );
    checkButton.disabled = Boolean(state.checks.form && state.checks.form.pending);
    form.append(
      h("div", { class: "form-actions" }, [
        saveButton,
        checkButton,
        h("span", { class: "spacer" }),
        h("button", { type: "button", class: "btn", onclick: closeEditor }, t("cancel")),
      ])
    );
    const result = checkResultNode(state.checks.form);
    if (result) form.append(result);
    form.onsubmit = submitForm;
  }

  function readForm() {
    const form = $("config-form");
    const value = function (name) {
      const el = form.elements.namedItem(name);
      return el ? String(el.value).trim() : "";
    };
    const checked = function (name) {
      return Array.from(form.querySelectorAll('input[name="' + name + '"]:checked')).map(function (el) {
        return el.value;
      });
    };
    return {
      name: value("name"),
      environment: (checked("environment")[0] || "").toUpperCase(),
      site: value("site"),
      rang: value("rang"),
      identifiant: value("identifiant"),
      hmacKey: value("hmacKey"),
      methods: checked("methods"),
      captureMode: checked("captureMode")[0] || "",
      storefrontOrigins: list(value("storefrontOrigins")),
      mealRuleSet: checked("mealRuleSet")[0] || "fr-2026",
      mealEligibleProductTypes: list(value("mealEligibleProductTypes")),
      mealEligibleCategories: list(value("mealEligibleCategories")),
      mealExcludedCategories: list(value("mealExcludedCategories")),
      methodMinimums: list(value("methodMinimums")).map(function (item) {
        const parts = item.split("=");
        return { method: parts[0].trim().toUpperCase(), amount: (parts[1] || "").trim() };
      }),
    };
  }

  function list(text) {
    return text
      .split(",")
      .map(function (part) {
        return part.trim();
      })
      .filter(Boolean);
  }

  // The same rules as the server (saleor_up2pay.configuration.models), checked first.
  function validate(input, isNew, fields) {
    const errors = {};
    const want = fields || ["name", "environment", "site", "rang", "identifiant", "hmacKey", "methods", "captureMode"];
    if (want.indexOf("name") >= 0) {
      if (!input.name) errors.name = "name_required";
      else if (input.name.length > 80) errors.name = "name_too_long";
    }
    if (want.indexOf("environment") >= 0 && !input.environment) errors.environment = "invalid_choice";
    if (!/^\d{7}$/.test(input.site)) errors.site = "site_format";
    if (!/^\d{2,3}$/.test(input.rang)) errors.rang = "rang_format";
    if (!/^\d{1,9}$/.test(input.identifiant)) errors.identifiant = "identifiant_format";
    if (input.hmacKey && !/^[0-9A-Fa-f]{128}$/.test(input.hmacKey)) errors.hmacKey = "hmac_key_format";
    else if (!input.hmacKey && isNew) errors.hmacKey = "hmac_key_required";
    if (want.indexOf("methods") >= 0 && !input.methods.length) errors.methods = "methods_required";
    if (want.indexOf("captureMode") >= 0 && !input.captureMode) errors.captureMode = "invalid_choice";
    return errors;
  }

  function showFieldErrors(errors) {
    const form = $("config-form");
    form.querySelectorAll("[data-field]").forEach(function (field) {
      const name = field.getAttribute("data-field");
      const code = errors[name];
      field.classList.toggle("invalid", Boolean(code));
      const target = field.querySelector(".error");
      if (target) target.textContent = code ? fieldErrorText({ code: code, message: code }) : "";
      const input = field.querySelector("input");
      if (input) input.setAttribute("aria-invalid", code ? "true" : "false");
    });
    const first = form.querySelector(".invalid input");
    if (first) first.focus();
  }

  async function submitForm(event) {
    event.preventDefault();
    const config = state.editing;
    const input = readForm();
    const errors = validate(input, !config.id);
    showFieldErrors(errors);
    if (Object.keys(errors).length) return;
    if (config.id) input.id = config.id;
    const button = $("save-config");
    button.disabled = true;
    button.textContent = t("saving");
    try {
      const data = await api(M_SAVE, { input: input });
      const payload = data.saveConfiguration;
      if (payload.errors.length) {
        const byField = {};
        payload.errors.forEach(function (e) {
          byField[e.field] = e.code;
        });
        showFieldErrors(byField);
        return;
      }
      hideBanner();
      toast(t("saved"));
      notifyDashboard("success", t("saved"));
      state.editing = null;
      renderEditor();
      await reloadConfigs();
      renderChannels();
    } catch (error) {
      showBanner(apiErrorText(error));
    } finally {
      button.disabled = false;
      button.textContent = t("save");
    }
  }

  function checkForm() {
    const config = state.editing;
    const input = readForm();
    const errors = validate(input, !config.id, ["site", "rang", "identifiant", "hmacKey", "environment"]);
    showFieldErrors(errors);
    if (Object.keys(errors).length) return;
    runCheck(
      "form",
      {
        configurationId: config.id || null,
        environment: input.environment,
        site: input.site,
        rang: input.rang,
        identifiant: input.identifiant,
        hmacKey: input.hmacKey,
      },
      function () {
        const form = $("config-form");
        const old = form.querySelector('[data-test="check-result"]');
        if (old) old.remove();
        const node = checkResultNode(state.checks.form);
        if (node) form.append(node);
        const button = $("check-form");
        if (button) button.disabled = Boolean(state.checks.form && state.checks.form.pending);
      }
    );
  }

  // --- rendering: channels ----------------------------------------------------------------

  function configName(id) {
    if (!id) return t("useDefault");
    const config = state.configs.find(function (c) {
      return c.id === id;
    });
    return config ? config.name : id;
  }

  function renderChannels() {
    const target = $("channel-list");
    target.textContent = "";
    if (state.channelsError) {
      target.append(h("p", { class: "check-result bad" }, state.channelsError));
      return;
    }
    if (!state.channels.length) {
      target.append(h("p", { class: "empty" }, t("noChannels")));
      return;
    }
    const rows = state.channels.map(function (channel) {
      const select = h("select", {
        "aria-label": t("configuration") + " — " + channel.name,
        "data-channel": channel.slug,
        onchange: function (event) {
          mapChannel(channel, event.target.value || null);
        },
      });
      select.append(h("option", { value: "" }, t("useDefault")));
      state.configs.forEach(function (config) {
        const option = h("option", { value: config.id }, config.name + " · " + envLabel(config.environment));
        select.append(option);
      });
      select.value = channel.configurationId || "";
      const canMap = channel.inSaleor && channel.eligible;
      select.disabled = !canMap && !channel.configurationId;
      let status;
      if (!channel.inSaleor) status = h("span", { class: "badge neutral" }, t("goneFromSaleor"));
      else if (!channel.eligible) status = h("span", { class: "badge bad" }, t("notEligible"));
      else if (!channel.isActive) status = h("span", { class: "badge neutral" }, t("inactive"));
      else status = h("span", { class: "badge ok" }, t("eligible"));
      return h("tr", { "data-channel-row": channel.slug }, [
        h("td", {}, [channel.name, h("span", { class: "sub mono" }, channel.slug)]),
        h("td", { class: "mono" }, channel.currencyCode || "—"),
        h("td", {}, select),
        h("td", {}, status),
      ]);
    });
    target.append(
      h("div", { class: "table-wrap" }, [
        h("table", {}, [
          h("thead", {}, h("tr", {}, [t("channel"), t("currency"), t("configuration"), t("status")].map((c) => h("th", {}, c)))),
          h("tbody", {}, rows),
        ]),
      ])
    );
  }

  async function mapChannel(channel, configId) {
    try {
      const data = await api(M_MAP, { slug: channel.slug, config: configId });
      const payload = data.mapChannel;
      if (payload.errors.length) {
        showBanner(payload.errors.map(fieldErrorText).join(" "));
      } else {
        hideBanner();
        const text = t("mapped", { channel: channel.name, config: configName(configId) });
        toast(text);
        notifyDashboard("success", text);
      }
    } catch (error) {
      showBanner(apiErrorText(error));
    }
    await reloadConfigs();
    await loadChannels();
  }

  // --- rendering: activity ----------------------------------------------------------------

  function outcomeClass(outcome) {
    const value = String(outcome || "").toUpperCase();
    if (/SUCCESS|PAID|ACCEPT|\bOK\b|CAPTURED|REFUNDED/.test(value)) return "ok";
    if (/FAIL|REFUS|ERROR|DECLIN|REJECT/.test(value)) return "bad";
    return "neutral";
  }

  function legLabel(leg) {
    if (!leg) return "—";
    return METHOD_LABELS[leg] || LEG_LABELS[state.locale][leg] || leg;
  }

  // Outcomes are short machine words ("capture:success", "paid"): make them readable.
  function humanize(outcome) {
    const text = String(outcome || "").replace(/[_:]+/g, " ").trim().toLowerCase();
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : "—";
  }

  function formatTime(value) {
    try {
      return new Intl.DateTimeFormat(state.locale === "fr" ? "fr-FR" : "en-GB", {
        dateStyle: "short",
        timeStyle: "medium",
      }).format(new Date(value));
    } catch (e) {
      return value;
    }
  }

  function formatAmount(amount, currency) {
    if (amount === null || amount === undefined) return "—";
    try {
      return new Intl.NumberFormat(state.locale === "fr" ? "fr-FR" : "en-GB", {
        style: "currency",
        currency: currency || "EUR",
      }).format(Number(amount));
    } catch (e) {
      return amount + " " + (currency || "");
    }
  }

  function renderActivity() {
    const target = $("activity-list");
    target.textContent = "";
    if (!state.activity.length) {
      target.append(h("p", { class: "empty" }, t("noActivity")));
      return;
    }
    const header = [t("time"), t("channel"), t("reference"), t("leg"), t("amount"), t("outcome"), t("message")];
    const rows = state.activity.map(function (entry) {
      return h("tr", {}, [
        h("td", { class: "small nowrap" }, [
          formatTime(entry.time),
          h("span", { class: "sub" }, KIND_LABELS[state.locale][entry.kind] || entry.kind),
        ]),
        h("td", { class: "mono nowrap" }, entry.channel || "—"),
        h("td", { class: "mono" }, [entry.reference || "—", entry.pspReference ? h("span", { class: "sub" }, entry.pspReference) : null]),
        h("td", {}, legLabel(entry.leg)),
        h("td", { class: "num" }, formatAmount(entry.amount, entry.currency)),
        h("td", {}, h("span", { class: "badge " + outcomeClass(entry.outcome) }, humanize(entry.outcome))),
        h("td", { class: "small" }, entry.message || ""),
      ]);
    });
    target.append(
      h("div", { class: "table-wrap" }, [
        h("table", {}, [
          h("thead", {}, h("tr", {}, header.map((c) => h("th", {}, c)))),
          h("tbody", {}, rows),
        ]),
      ])
    );
  }

  // --- rendering: problems ----------------------------------------------------------------

  function renderProblems() {
    const target = $("problem-list");
    target.textContent = "";
    if (state.problemsError) {
      target.append(h("p", { class: "check-result bad" }, state.problemsError));
      return;
    }
    const unattached = state.problems.unattachedUnknownIpns || 0;
    if (unattached > 0) {
      target.append(h("p", { class: "check-result bad", id: "unattached-ipns" }, t("unattachedIpns", { count: unattached })));
    }
    if (!state.problems.items.length) {
      target.append(h("p", { class: "empty" }, t("noProblems")));
      return;
    }
    const header = [t("problemKey"), t("message"), t("problemCount"), t("firstSeen"), t("lastSeen")];
    const rows = state.problems.items.map(function (problem) {
      return h("tr", { "data-key": problem.key }, [
        h("td", { class: "mono small" }, [
          problem.key,
          problem.critical ? h("span", { class: "sub" }, h("span", { class: "badge bad" }, t("critical"))) : null,
        ]),
        h("td", { class: "small" }, problem.message),
        h("td", { class: "num" }, String(problem.count)),
        h("td", { class: "small nowrap" }, formatTime(problem.firstSeen)),
        h("td", { class: "small nowrap" }, formatTime(problem.lastSeen)),
      ]);
    });
    target.append(
      h("div", { class: "table-wrap" }, [
        h("table", {}, [
          h("thead", {}, h("tr", {}, header.map((c) => h("th", {}, c)))),
          h("tbody", {}, rows),
        ]),
      ])
    );
  }

  // --- boot -------------------------------------------------------------------------------

  function showOutside() {
    $("loading").hidden = true;
    $("main").hidden = true;
    $("outside").hidden = false;
  }

  function boot() {
    applyTheme(params.get("theme"));
    if (!params.get("theme") && window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches) {
      applyTheme("dark");
    }
    renderStatic();
    $("add-config").addEventListener("click", function () {
      openEditor(null);
    });
    $("refresh-activity").addEventListener("click", refreshActivity);
    $("refresh-problems").addEventListener("click", loadProblems);
    const framed = window.parent !== window;
    if (!framed || !saleorApiUrl) {
      showOutside();
      return;
    }
    window.addEventListener("message", onMessage);
    postToDashboard("notifyReady", {});
    setTimeout(function () {
      if (!state.token) showOutside();
    }, HANDSHAKE_TIMEOUT_MS);
  }

  boot();
})();
