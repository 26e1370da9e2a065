"""Server-rendered HTML of the sandbox: the outcome page, error page, load.html. No JavaScript."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from saleor_up2pay.sandbox.core import PaymentSession
from saleor_up2pay.sandbox.payments import IpnOrder, Outcome
from saleor_up2pay.sandbox.protocol import ERROR_MESSAGES, REFUSAL_CODES

CARD_LABELS = {
    "APETIZ": "Bimpli (Apetiz)",
    "SODEXO": "Pluxee",
    "UPCHEQUDEJ": "Up Déjeuner",
    "CVCONNECT": "Chèque-Vacances Connect",
}

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}fieldset{margin:1rem 0;border:1px solid #ccc;border-radius:6px}
label{display:block;margin:.35rem 0}.note{color:#555;font-size:.9rem}
.error{border-left:4px solid #c00;padding:.5rem 1rem;background:#fee}
.notice{border-left:4px solid #c80;padding:.5rem 1rem;background:#ffe}
button{font-size:1rem;padding:.5rem 1.2rem}code{background:#f4f4f4;padding:0 .2rem}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><p class=note>Up2pay e-Transactions — sandbox locale</p>{body}</body></html>"
    )


def euros(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f} €"


def error_page(code: str, message: str) -> str:
    """What the hosted page shows for a request it refuses."""
    general = ERROR_MESSAGES.get(code, "Erreur.")
    return _page(
        "Erreur",
        f"<h1>Erreur</h1><div class=error><p id=error_code>Code {escape(code)}</p>"
        f"<p>{escape(general)}</p><p id=error_detail>{escape(message)}</p></div>",
    )


def unavailable_page() -> str:
    return _page("Service indisponible", "<h1>Service momentanément indisponible</h1>")


def checkout_page(
    session: PaymentSession, action: str, notice: str | None = None, *, max_attempts: int = 3
) -> str:
    """The page where the shopper picks what happens (the sandbox's stand-in for Limonetik)."""
    request = session.request
    card = CARD_LABELS.get(request.card_type, request.card_type)
    refusals = "".join(
        f'<option value="{c}">{c} — {escape(ERROR_MESSAGES.get(c, ""))}</option>'
        for c in REFUSAL_CODES
    )
    default_part = max(1, request.total // 2)
    left = max_attempts - session.attempts
    notice_html = f"<div class=notice>{escape(notice)}</div>" if notice else ""
    outcomes = [
        (Outcome.VOUCHER, f"Le titre paie tout ({euros(request.total)})", True),
        (Outcome.SPLIT, "Le titre paie une partie, une carte bancaire (LIMOCB) le reste", False),
        (Outcome.REFUSED, "Paiement refusé", False),
        (Outcome.RETRY, f"Refuser cette tentative et réessayer ({left} restante(s))", False),
        (Outcome.COMPLEMENT_REFUSED, "Le titre paie une partie, la carte est refusée", False),
        (Outcome.CANCELLED, "Annuler (retour à la boutique)", False),
        (Outcome.PLATFORM_ERROR, "Erreur plateforme (00003)", False),
        (Outcome.PENDING, "En attente de l'émetteur (99999)", False),
    ]
    radios = "".join(
        f'<label><input type=radio name=outcome value="{o.value}"{" checked" if c else ""}> '
        f"{escape(text)}</label>"
        for o, text, c in outcomes
    )
    orders = "".join(
        f'<option value="{o.value}">{escape(label)}</option>'
        for o, label in (
            (IpnOrder.VOUCHER_FIRST, "titre d'abord"),
            (IpnOrder.COMPLEMENT_FIRST, "complément carte d'abord"),
        )
    )
    ipn = request.urls.ipn or "(aucune: PBX_REPONDRE_A absent)"
    body = f"""
<h1>Paiement {escape(card)}</h1>
{notice_html}
<p>Commande <code id=reference>{escape(request.reference)}</code> ·
montant <strong id=amount>{euros(request.total)}</strong> ·
site {escape(request.account.site)} rang {escape(request.account.rang)} ·
appel <code id=call_number>{session.call_number}</code> ·
tentative {session.attempts + 1}/{max_attempts}</p>
<form method=post action="{escape(action)}" id=outcome_form>
<fieldset><legend>Résultat</legend>{radios}
<label>Part payée par le titre (€) <input name=voucher_amount inputmode=decimal
 value="{Decimal(default_part) / 100:.2f}"></label>
<label>Code de refus <select name=refusal_code>{refusals}</select></label></fieldset>
<fieldset><legend>Notifications (IPN) vers <code>{escape(ipn)}</code></legend>
<label><input type=checkbox name=send_ipn value=1 checked> envoyer les IPN</label>
<label>Ordre <select name=ipn_order>{orders}</select></label>
<label>Envoyer chaque IPN <input name=ipn_repeat type=number min=1 max=10 value=1> fois</label>
<label><input type=checkbox name=ipn_concurrent value=1> doublons envoyés en même temps</label>
</fieldset>
<button type=submit>Valider</button></form>"""
    return _page(f"Paiement {card}", body)


def finished_page(kind: str, url: str | None, message: str) -> str:
    link = (
        f'<p><a id=return_link href="{escape(url)}">Retour à la boutique</a></p>'
        if url
        else "<p>Aucune URL de retour n'a été fournie pour ce cas.</p>"
    )
    return _page("Paiement terminé", f"<h1>{escape(message)}</h1><p>({escape(kind)})</p>{link}")


def load_html(ok: bool) -> str:
    """``load.html`` as the clients check it (protocol §1.3)."""
    status = "OK" if ok else "KO"
    return (
        "<html><head><title>load</title></head><body>"
        f'<div id="server_status" style="text-align:center;">{status}</div>'
        "</body></html>"
    )


def index_page(base: str) -> str:
    items = [
        ("/php/", "page de paiement (POST ou GET des champs PBX_*)"),
        (
            "/PPPS.php",
            "GAE: capture 00002, annulation 00005, remboursement 00014, consultation 00017",
        ),
        ("/load.html", "disponibilité"),
        ("/backup/php/, /backup/PPPS.php, /backup/load.html", "le site de secours"),
        ("/pubkey.pem", "clé publique de signature des IPN (1024 bits)"),
        ("/pubkey_RSA_2048.pem", "clé 2048 bits (PBX_SIGN_KEYSIZE=2048)"),
        ("/sandbox/api/...", "pilotage: pay, clock, availability, gae-faults, transactions"),
    ]
    rows = "".join(f"<li><code>{escape(p)}</code> — {escape(t)}</li>" for p, t in items)
    return _page("Up2pay sandbox", f"<h1>Up2pay sandbox</h1><p>{escape(base)}</p><ul>{rows}</ul>")
