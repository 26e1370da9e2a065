"""A loopback Saleor that answers the app's report calls at once with minimal valid JSON.

Not the test suite's fake (that one validates every document against the schema and keeps
transaction state, which would make Saleor the bottleneck): a raw ASGI app that finds each root
field of the document — several, aliased ``m0: transactionEventReport(...)``, when the app
batches concurrent reports — and answers each under its alias with an empty ``errors`` list,
counting mutations per field and requests. Like Saleor it keeps what ``transactionUpdate``
named an item and shows it in the report's answer (``transaction { name }``), so the app renames
an item once, not at every report; every report is new (``alreadyProcessed: false``).
``GET /stats`` returns the counts as JSON (``requests``: HTTP requests answered). Run with
``python -m benchmarks.fake_saleor PORT``.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from typing import Any

import uvicorn

_FIELD = re.compile(
    r"(?:\b(\w+)\s*:\s*)?\b(transactionEventReport|transactionUpdate|updatePrivateMetadata"
    r"|transactionCreate|transaction)\s*\("
)

counts: Counter[str] = Counter()
names: dict[str, str] = {}
"""Item id → the name ``transactionUpdate`` gave it."""

ANSWERS: dict[str, dict[str, Any]] = {
    "transactionEventReport": {
        "alreadyProcessed": False,
        "errors": [],
        "transactionEvent": {"id": "VHJhbnNhY3Rpb25FdmVudDox", "pspReference": "", "type": ""},
        "transaction": {"id": "VHJhbnNhY3Rpb25JdGVtOjE="},
    },
    "transactionUpdate": {"errors": [], "transaction": {"id": "VHJhbnNhY3Rpb25JdGVtOjE="}},
    "updatePrivateMetadata": {"errors": [], "item": {"id": "VHJhbnNhY3Rpb25JdGVtOjE="}},
    "transactionCreate": {"errors": [], "transaction": {"id": "VHJhbnNhY3Rpb25JdGVtOjI="}},
    "transaction": {"id": "VHJhbnNhY3Rpb25JdGVtOjE=", "order": None, "checkout": None},
}


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    body = await _body(receive)
    if scope["method"] == "GET" and scope["path"] == "/stats":
        content = json.dumps(dict(counts)).encode()
    else:
        request = json.loads(body or b"{}")
        query, variables = request.get("query", ""), request.get("variables") or {}
        data: dict[str, Any] = {}
        counts["requests"] += 1
        for alias, name in _FIELD.findall(query):
            counts[name] += 1
            suffix = "_" + alias[1:] if alias.startswith("m") else ""
            answer = ANSWERS.get(name, {"errors": []})
            item = str(variables.get("id" + suffix, ""))
            if name == "transactionUpdate":
                names[item] = str((variables.get("transaction" + suffix) or {}).get("name", ""))
            elif name == "transactionEventReport":
                answer = {**answer, "transaction": {"id": item, "name": names.get(item, "")}}
            data[alias or name] = answer
        content = json.dumps({"data": data or {"unknown": {"errors": []}}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": content})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
