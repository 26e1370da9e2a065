"""Concurrent mutations to one Saleor instance, sent as one request of aliased mutations.

The job worker reports several legs at once; each report is one ``transactionEventReport``.
:class:`MutationBatcher` collects the mutations that reach it within :data:`BATCH_WINDOW_SECONDS`
for the same instance and token (up to the instance's mutation limit) and sends them as **one**
GraphQL document: each call's document (a ``graphql/mutations/*.graphql`` file with one root
field) becomes an aliased field ``m<i>: transactionEventReport(...)`` whose variables are renamed
``$<name>_<i>`` (:func:`batch_document`, derived from the files with graphql-core, cached per
combination). Each caller awaits its own result and gets exactly what a lone call would have
given it: its payload, its :class:`~.client.SaleorMutationError` (``NOT_FOUND``,
``INCORRECT_DETAILS``...), or a :class:`~.client.SaleorGraphQLError` for a top-level error whose
``path`` starts at its alias. One bad mutation never fails the others; a transport failure or an
error about the whole request (no ``data``) fails every call of the batch, and each job retries
as it would have alone. A lone call is sent with its own document, unchanged.

What Saleor does with such a document (read in ``saleor/saleor`` at tag ``3.23.28``, the version
the recordings come from, and unchanged on ``main`` as of December 2026):

- ``saleor/graphql/views.py`` (``GraphQLView.execute_graphql_request``) validates the document
  once (``validate_query``) and runs it with one ``document.execute(...)``: graphql-core 2 runs
  the root fields of a ``mutation`` operation one after the other (``execute_fields_serially``)
  and turns an exception in one field's resolver into ``null`` for that field plus an entry of
  the top-level ``errors`` whose ``path`` is ``[alias]``; the other fields still run. Business
  failures (``NOT_FOUND``, ``INCORRECT_DETAILS``...) are in each payload's own ``errors``.
- ``saleor/graphql/core/validators/__init__.py`` (``validate_query``) adds two rules beside the
  query-cost validator (``GRAPHQL_QUERY_MAX_COMPLEXITY``, 50,000 by default, far above a few
  reports): ``mutation_count_limit_rule.MutationCountLimitRule`` counts the root selections of
  every mutation operation and, above ``settings.GRAPHQL_MUTATION_COUNT_LIMIT`` (**4 by
  default**, env ``GRAPHQL_MUTATION_COUNT_LIMIT``), rejects the whole request with ``Number of
  mutations exceed the limit of <N>``; ``alias_count_limit_rule.AliasCountLimitRule`` rejects
  more than ``GRAPHQL_ALIAS_COUNT_LIMIT`` aliases (100). Both came with the fix of
  CVE-2026-33756 (commit ``f0371bdd4c``); a JSON array of operations is refused above
  ``GRAPHQL_BATCH_MAX_COUNT`` (1), which is why batching is done with aliases, not arrays.

So a batch holds at most ``SALEOR_MUTATIONS_PER_REQUEST`` mutations (default 4, Saleor's own
default); when an instance answers the limit error anyway (its operator lowered it), the batch
is sent again in pieces of the limit it names, and that limit is kept for the instance.

Saleor-side only: nothing here knows Up2pay.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    parse,
    print_ast,
    visit,
)
from saleor_up2pay.saleor.client import (
    SaleorClient,
    SaleorError,
    SaleorGraphQLError,
    mutation_result,
)
from saleor_up2pay.saleor.documents import load_document

DEFAULT_MUTATIONS_PER_REQUEST = 4
"""Saleor's ``GRAPHQL_MUTATION_COUNT_LIMIT`` default (3.23): more in one request is refused."""

BATCH_WINDOW_SECONDS = 0.002
"""How long the first mutation of a batch waits for others (a full batch leaves at once)."""

_LIMIT_ERROR = re.compile(r"Number of mutations exceed the limit of (\d+)")


@dataclass(frozen=True)
class BatchDocument:
    """One document of aliased mutations: its text and each part's alias and variable names."""

    query: str
    aliases: tuple[str, ...]
    variables: tuple[tuple[tuple[str, str], ...], ...]
    """Per part: (name in the part's own document, name in the batch)."""


class _Renamer(Visitor):
    def __init__(self, suffix: str) -> None:
        super().__init__()
        self.suffix = suffix

    def enter_variable(self, node: VariableNode, *_: Any) -> VariableNode:
        return VariableNode(name=NameNode(value=node.name.value + self.suffix))


def _single_mutation(name: str) -> tuple[OperationDefinitionNode, list[FragmentDefinitionNode]]:
    document = parse(load_document(name), no_location=True)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    if len(operations) != 1 or operations[0].operation is not OperationType.MUTATION:
        msg = f"{name}: a batch part must be a document with one mutation operation"
        raise ValueError(msg)
    fields = [s for s in operations[0].selection_set.selections if isinstance(s, FieldNode)]
    if len(fields) != 1 or len(operations[0].selection_set.selections) != 1:
        msg = f"{name}: a batch part must have exactly one root field"
        raise ValueError(msg)
    return operations[0], fragments


@cache
def batch_document(documents: tuple[str, ...]) -> BatchDocument:
    """The aliased document running ``documents`` (names of ``graphql/`` mutation files) in
    order: part ``i`` is aliased ``m<i>`` and its variables get the suffix ``_<i>``."""
    variable_definitions: list[VariableDefinitionNode] = []
    selections: list[FieldNode] = []
    fragments: dict[str, FragmentDefinitionNode] = {}
    renamed: list[tuple[tuple[str, str], ...]] = []
    aliases: list[str] = []
    for index, name in enumerate(documents):
        operation, own_fragments = _single_mutation(name)
        suffix, alias = f"_{index}", f"m{index}"
        renamer = _Renamer(suffix)
        own_names = []
        for definition in operation.variable_definitions or ():
            variable_definitions.append(cast("VariableDefinitionNode", visit(definition, renamer)))
            own_names.append(definition.variable.name.value)
        root = cast("FieldNode", operation.selection_set.selections[0])  # checked above
        root = cast("FieldNode", visit(root, renamer))
        selections.append(replace(root, alias=NameNode(value=alias)))
        renamed.append(tuple((own, own + suffix) for own in own_names))
        aliases.append(alias)
        for fragment in own_fragments:
            known = fragments.get(fragment.name.value)
            if known is not None and print_ast(known) != print_ast(fragment):
                msg = f"two different fragments are named {fragment.name.value!r}"
                raise ValueError(msg)
            fragments[fragment.name.value] = fragment
    names = sorted(set(documents))
    op_name = "".join(part.title().replace("_", "") for part in names) + f"X{len(documents)}"
    document = DocumentNode(
        definitions=(
            OperationDefinitionNode(
                operation=OperationType.MUTATION,
                name=NameNode(value=op_name),
                variable_definitions=tuple(variable_definitions),
                directives=(),
                selection_set=SelectionSetNode(selections=tuple(selections)),
            ),
            *fragments.values(),
        )
    )
    # One line: the documents hold no string literals, so whitespace can be squeezed.
    return BatchDocument(" ".join(print_ast(document).split()), tuple(aliases), tuple(renamed))


@dataclass
class _Call:
    document: str
    variables: dict[str, Any]
    result_field: str
    future: asyncio.Future[dict[str, Any]]


@dataclass
class _Batch:
    client: SaleorClient
    calls: list[_Call] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class MutationBatcher:
    """Coalesces concurrent mutations per (Saleor instance, token); one per process.

    ``max_mutations`` is the most mutations sent in one request (1: no batching); ``window``
    the longest a mutation waits for others.
    """

    def __init__(
        self,
        *,
        max_mutations: int = DEFAULT_MUTATIONS_PER_REQUEST,
        window: float = BATCH_WINDOW_SECONDS,
    ) -> None:
        self.max_mutations = max(1, max_mutations)
        self.window = window
        self._open: dict[tuple[str, str], _Batch] = {}
        self._limits: dict[str, int] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self.requests_sent = 0
        """GraphQL requests sent (for tests and the bench)."""

    def limit_for(self, saleor_api_url: str) -> int:
        """Most mutations per request for this instance (lowered when Saleor said so)."""
        return min(self.max_mutations, self._limits.get(saleor_api_url, self.max_mutations))

    async def mutate(
        self,
        client: SaleorClient,
        document: str,
        variables: dict[str, Any],
        result_field: str,
    ) -> dict[str, Any]:
        """Like :meth:`SaleorClient.mutate`, possibly sharing its request with other calls."""
        if self.limit_for(client.saleor_api_url) <= 1:
            self.requests_sent += 1
            return await client.mutate(document, variables, result_field)
        loop = asyncio.get_running_loop()
        key = (client.saleor_api_url, client.token_fingerprint)
        batch = self._open.get(key)
        if batch is None:
            batch = _Batch(client)
            self._open[key] = batch
            batch.timer = loop.call_later(self.window, self._flush, key, batch)
        call = _Call(document, variables, result_field, loop.create_future())
        batch.calls.append(call)
        if len(batch.calls) >= self.limit_for(client.saleor_api_url):
            self._flush(key, batch)
        return await call.future

    def _flush(self, key: tuple[str, str], batch: _Batch) -> None:
        if self._open.get(key) is batch:
            del self._open[key]
        if batch.timer is not None:
            batch.timer.cancel()
            batch.timer = None
        if not batch.calls:
            return
        task = asyncio.get_running_loop().create_task(self._send(batch.client, batch.calls))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, client: SaleorClient, calls: Sequence[_Call]) -> None:
        try:
            await self._send_checked(client, calls)
        except BaseException as exc:  # never leave a caller waiting
            for call in calls:
                if not call.future.done():
                    call.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

    async def _send_checked(self, client: SaleorClient, calls: Sequence[_Call]) -> None:
        if len(calls) == 1:
            call = calls[0]
            self.requests_sent += 1
            try:
                result = await client.mutate(call.document, call.variables, call.result_field)
            except Exception as exc:  # this call's own failure, whatever it is
                _fail(call, exc)
            else:
                _succeed(call, result)
            return
        batch = batch_document(tuple(call.document for call in calls))
        variables: dict[str, Any] = {}
        for call, names in zip(calls, batch.variables, strict=True):
            for own, renamed in names:
                if own in call.variables:
                    variables[renamed] = call.variables[own]
        label = f"{len(calls)} aliased mutations ({', '.join(sorted({c.document for c in calls}))})"
        try:
            encoded = client.encode(batch.query, variables)
        except (TypeError, ValueError):  # one call's variables cannot be sent: only it fails
            for call in calls:
                await self._send_checked(client, [call])
            return
        self.requests_sent += 1
        status, answer = await client.post_encoded(encoded, label=label)
        data = answer.get("data")
        errors = [e for e in answer.get("errors") or [] if isinstance(e, dict)]
        unplaced = [e for e in errors if not e.get("path")]
        if not isinstance(data, dict) or unplaced:
            limit = _limit_in(errors)
            if limit is not None and limit < len(calls):
                self._limits[client.saleor_api_url] = limit
                for start in range(0, len(calls), limit):
                    await self._send_checked(client, calls[start : start + limit])
                return
            first = (unplaced or errors)[0].get("message") if errors else None
            error = SaleorGraphQLError(
                f"{label}: {first or f'Saleor answered HTTP {status} without data'}",
                errors,
                data,
                status,
            )
            for call in calls:
                _fail(call, error)
            return
        for call, alias in zip(calls, batch.aliases, strict=True):
            own_errors = [e for e in errors if (e.get("path") or [None])[0] == alias]
            if own_errors:
                message = own_errors[0].get("message")
                _fail(
                    call,
                    SaleorGraphQLError(f"{call.document}: {message}", own_errors, None, status),
                )
                continue
            try:
                result = mutation_result(
                    call.document, {call.result_field: data.get(alias)}, call.result_field
                )
            except SaleorError as exc:
                _fail(call, exc)
            else:
                _succeed(call, result)


def _limit_in(errors: list[dict[str, Any]]) -> int | None:
    for error in errors:
        found = _LIMIT_ERROR.search(str(error.get("message") or ""))
        if found:
            return max(1, int(found.group(1)))
    return None


def _succeed(call: _Call, result: dict[str, Any]) -> None:
    if not call.future.done():
        call.future.set_result(result)


def _fail(call: _Call, error: BaseException) -> None:
    if not call.future.done():
        call.future.set_exception(error)
