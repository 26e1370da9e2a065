"""GAE client: request fields and HMAC, Latin-1 responses, NUMQUESTION, failover, time budget."""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypedDict
from urllib.parse import parse_qsl

import httpx
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from structlog.testing import capture_logs

from saleor_up2pay.up2pay import (
    Credentials,
    CredentialsVerdict,
    GaeClient,
    GaeOutcome,
    InvalidPaymentRequest,
    Leg,
    MalformedMessage,
    Operation,
    QuestionNumbersUnavailable,
    RedisNumQuestions,
    Up2payError,
    build_gae_request,
    parse_gae_response,
)
from saleor_up2pay.up2pay.models import Numappel, Numtrans
from tests.support.servers import free_port

KEY = "0123456789ABCDEF" * 8
CREDS = Credentials(site="1666666", rang="16", identifiant="7546450", hmac_key=KEY)
MAIN = "https://ppps.e-transactions.fr/PPPS.php"
BACKUP = "https://ppps1.e-transactions.fr/PPPS.php"
NOW = datetime(2016, 4, 8, 10, 30, 5, tzinfo=UTC)  # 12:30:05 in Paris (summer time)


def expected_hmac(fields: list[tuple[str, str]]) -> str:
    message = "&".join(f"{k}={v}" for k, v in fields).encode()
    return hmac.new(binascii.unhexlify(KEY), message, hashlib.sha512).hexdigest().upper()


class FakeGae:
    """A scripted PPPS.php: records requests, checks their HMAC, answers per host and TYPE."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.answers: dict[tuple[str, str], Callable[[dict[str, str]], httpx.Response]] = {}

    def on(
        self, url: str, op: Operation, answer: Callable[[dict[str, str]], httpx.Response]
    ) -> None:
        self.answers[(url, op.value)] = answer

    async def handler(self, request: httpx.Request) -> httpx.Response:
        pairs = parse_qsl(request.content.decode("ascii"), keep_blank_values=True)
        fields = dict(pairs)
        assert pairs[-1][0] == "HMAC"
        assert pairs[-1][1] == expected_hmac(pairs[:-1])
        url = str(request.url)
        self.requests.append((url, fields))
        answer = self.answers.get((url, fields["TYPE"]))
        if answer is None:
            raise httpx.ConnectError("no route", request=request)
        response = answer(fields)
        if asyncio.iscoroutine(response):
            awaited: httpx.Response = await response
            return awaited
        return response

    def ops(self) -> list[tuple[str, str]]:
        return [(url, fields["TYPE"]) for url, fields in self.requests]


def reply(code: str, comment: str = "", **extra: str) -> Callable[[dict[str, str]], httpx.Response]:
    def answer(fields: dict[str, str]) -> httpx.Response:
        parts = [
            f"NUMTRANS={extra.pop('NUMTRANS', fields['NUMTRANS'].zfill(10))}",
            f"NUMAPPEL={fields['NUMAPPEL'].zfill(10)}",
            f"NUMQUESTION={fields['NUMQUESTION']}",
            f"SITE={fields['SITE']}",
            f"RANG={fields['RANG']}",
            "AUTORISATION=XXXXXX",
            f"CODEREPONSE={code}",
            f"COMMENTAIRE={comment}",
        ] + [f"{k}={v}" for k, v in extra.items()]
        return httpx.Response(200, content="&".join(parts).encode("latin-1"))

    return answer


@pytest.fixture
async def fake() -> FakeGae:
    return FakeGae()


@pytest.fixture
async def http(fake: FakeGae):
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as client:
        yield client


def client(http, redis, urls=(MAIN, BACKUP), budget: float = 12.0) -> GaeClient:
    return GaeClient(
        http, CREDS, urls, RedisNumQuestions(redis), time_budget=budget, clock=lambda: NOW
    )


class LegArgs(TypedDict):
    amount: int
    reference: str
    numappel: Numappel
    numtrans: Numtrans


LEG_ARGS: LegArgs = {
    "amount": 1500,
    "reference": "Teste-transactions",
    "numappel": Numappel("2310165"),
    "numtrans": Numtrans("722487980"),
}


class TestBuildRequest:
    def test_manual_refund_fields_in_order(self) -> None:
        """A refund carries the manual's fields in the manual's order, HMAC last over the rest."""
        fields = build_gae_request(
            credentials=CREDS,
            operation=Operation.REFUND,
            question_number=102451803,
            now=NOW,
            leg=Leg.APETIZ,
            **LEG_ARGS,
        )
        assert fields[:-1] == [
            ("VERSION", "00103"),
            ("TYPE", "00014"),
            ("SITE", "1666666"),
            ("RANG", "16"),
            ("NUMQUESTION", "0102451803"),
            ("MONTANT", "1500"),
            ("DEVISE", "978"),
            ("REFERENCE", "Teste-transactions"),
            ("NUMAPPEL", "2310165"),
            ("NUMTRANS", "722487980"),
            ("ACTIVITE", "024"),
            ("DATEQ", "08042016123005"),
            ("ACQUEREUR", "APETIZ"),
            ("HASH", "SHA512"),
        ]
        assert fields[-1] == ("HMAC", expected_hmac(fields[:-1]))

    @pytest.mark.parametrize("leg", [Leg.LIMOCB, Leg.CVCONNECT, Leg.SODEXO, Leg.UPCHEQUDEJ])
    def test_acquirer_follows_leg(self, leg: Leg) -> None:
        """ACQUEREUR is the leg's own code."""
        fields = dict(
            build_gae_request(
                credentials=CREDS,
                operation=Operation.CAPTURE,
                question_number=1,
                now=NOW,
                leg=leg,
                **LEG_ARGS,
            )
        )
        assert fields["ACQUEREUR"] == leg.value

    def test_inquiry_has_no_amount_and_card_no_acquirer(self) -> None:
        """An inquiry sends no MONTANT/DEVISE; a plain card leg sends no ACQUEREUR."""
        fields = dict(
            build_gae_request(
                credentials=CREDS,
                operation=Operation.INQUIRY,
                question_number=7,
                now=NOW,
                leg=Leg.CARD,
                numappel=Numappel("1"),
                numtrans=Numtrans("2"),
            )
        )
        assert "MONTANT" not in fields
        assert "DEVISE" not in fields
        assert "ACQUEREUR" not in fields
        assert fields["TYPE"] == "00017"

    @pytest.mark.parametrize(
        ("overrides", "match"),
        [
            ({"amount": 0}, "MONTANT"),
            ({"reference": None}, "REFERENCE is required"),
            ({"reference": "é"}, "REFERENCE"),
            ({"numappel": "12a"}, "NUMAPPEL"),
            ({"numtrans": "12345678901"}, "NUMTRANS"),
            ({"question_number": 2_147_483_648}, "NUMQUESTION"),
        ],
    )
    def test_invalid_requests(self, overrides, match) -> None:
        """Values the platform would refuse are refused before sending."""
        kwargs: dict[str, Any] = {
            "credentials": CREDS,
            "operation": Operation.CAPTURE,
            "question_number": 1,
            "now": NOW,
            "leg": Leg.APETIZ,
            **LEG_ARGS,
        }
        kwargs.update(overrides)
        with pytest.raises(InvalidPaymentRequest, match=match):
            build_gae_request(**kwargs)


class TestParseResponse:
    def test_latin1_not_url_decoded(self) -> None:
        """Answers are read as ISO-8859-1 and never URL-decoded ('+' and '%' stay)."""
        body = (
            "NUMTRANS=0013989865&NUMAPPEL=0030378572&NUMQUESTION=0013989862&SITE=1999888&RANG=32"
            "&AUTORISATION=XXXXXX&CODEREPONSE=00000&COMMENTAIRE=Demande traitée avec succès a+b%20"
            "&REFABONNE=&PORTEUR="
        ).encode("latin-1")
        fields = dict(parse_gae_response(body))
        assert fields["COMMENTAIRE"] == "Demande traitée avec succès a+b%20"
        assert fields["NUMTRANS"] == "0013989865"
        assert fields["REFABONNE"] == ""

    def test_without_code_is_malformed(self) -> None:
        """An answer without CODEREPONSE is malformed."""
        with pytest.raises(MalformedMessage):
            parse_gae_response(b"<html>502 Bad Gateway</html>")


class TestNumQuestions:
    async def test_unique_across_clients_under_concurrency(self, redis, redis_server) -> None:
        """Two processes' clients drawing concurrently never get the same number."""
        other = aioredis.Redis(unix_socket_path=redis_server.socket_file, decode_responses=True)
        try:
            a, b = RedisNumQuestions(redis), RedisNumQuestions(other)
            draws = await asyncio.gather(
                *(src.next("1666666", "16", NOW) for _ in range(50) for src in (a, b))
            )
        finally:
            await other.aclose()
        assert len(set(draws)) == 100
        assert all(0 < d <= 2_147_483_647 for d in draws)

    async def test_seeded_by_time_of_day(self, redis) -> None:
        """A day's first number is above seconds-since-midnight × 10 000 (Paris time)."""
        first = await RedisNumQuestions(redis).next("1666666", "16", NOW)
        assert first == (12 * 3600 + 30 * 60 + 5) * 10_000 + 1

    async def test_counter_survives_a_lost_key(self, redis) -> None:
        """If Redis loses the day's key, later numbers are still larger than earlier ones."""
        source = RedisNumQuestions(redis)
        before = await source.next("1666666", "16", NOW)
        await redis.flushdb()
        later = NOW.replace(second=6)
        assert await source.next("1666666", "16", later) > before

    async def test_per_site_rang_and_day(self, redis) -> None:
        """Keys are per SITE/RANG per Paris day and expire."""
        source = RedisNumQuestions(redis)
        await source.next("1666666", "16", NOW)
        key = RedisNumQuestions.key("1666666", "16", "20160408")
        assert await redis.exists(key)
        assert 0 < await redis.ttl(key) <= 2 * 24 * 3600


class FlakyNumQuestions:
    """Hands out numbers from Redis, then fails from the ``fail_from``-th draw on (1-based)."""

    def __init__(self, redis, fail_from: int) -> None:
        self._inner = RedisNumQuestions(redis)
        self._fail_from = fail_from
        self.draws = 0

    async def next(self, site: str, rang: str, now: datetime) -> int:
        self.draws += 1
        if self.draws >= self._fail_from:
            raise QuestionNumbersUnavailable("no GAE question number (Redis: ConnectionError)")
        return await self._inner.next(site, rang, now)


@pytest.fixture
async def dead_redis():
    """A Redis client whose server is gone (nothing listens on the port), without retries."""
    client = aioredis.Redis(
        host="127.0.0.1", port=free_port(), decode_responses=True, retry=Retry(NoBackoff(), 0)
    )
    yield client
    await client.aclose()


class TestQuestionNumberFailure:
    async def test_redis_failure_is_a_typed_up2pay_error(self, dead_redis) -> None:
        """A Redis failure while drawing NUMQUESTION raises QuestionNumbersUnavailable, not a Redis error."""
        with pytest.raises(QuestionNumbersUnavailable, match="Redis: ConnectionError") as caught:
            await RedisNumQuestions(dead_redis).next("1666666", "16", NOW)
        assert isinstance(caught.value, Up2payError)

    @pytest.mark.parametrize("call", ["capture", "refund", "inquire"])
    async def test_redis_down_before_sending_is_unavailable(
        self, fake, http, dead_redis, call
    ) -> None:
        """Without a question number nothing is sent and the call answers UNAVAILABLE."""
        fake.on(MAIN, Operation.CAPTURE, reply("00000"))
        gae = GaeClient(
            http, CREDS, (MAIN, BACKUP), RedisNumQuestions(dead_redis), clock=lambda: NOW
        )
        args = dict(LEG_ARGS)
        if call == "inquire":
            del args["amount"], args["reference"]
        with capture_logs() as logs:
            result = await getattr(gae, call)(leg=Leg.APETIZ, **args)
        assert result.outcome is GaeOutcome.UNAVAILABLE
        assert not result.ok
        assert "question number" in result.message
        assert fake.requests == []
        assert any(entry["event"] == "gae.numquestion_unavailable" for entry in logs)

    async def test_credentials_check_with_redis_down_is_unavailable(
        self, fake, http, dead_redis
    ) -> None:
        """The credentials check says Up2pay could not be asked, not that the key is wrong."""
        gae = GaeClient(http, CREDS, (MAIN,), RedisNumQuestions(dead_redis), clock=lambda: NOW)
        assert (await gae.check_credentials()).verdict is CredentialsVerdict.UNAVAILABLE

    async def test_redis_down_after_the_money_request_left_is_uncertain(
        self, fake, http, redis
    ) -> None:
        """If the failover inquiry cannot get a number, the lost capture is UNCERTAIN, not retried."""
        fake.on(MAIN, Operation.CAPTURE, reply("00001"))
        source = FlakyNumQuestions(redis, fail_from=2)
        gae = GaeClient(http, CREDS, (MAIN, BACKUP), source, clock=lambda: NOW)
        result = await gae.capture(leg=Leg.APETIZ, **LEG_ARGS)
        assert result.outcome is GaeOutcome.UNCERTAIN
        assert fake.ops() == [(MAIN, "00002")]

    async def test_redis_down_after_inquiry_proved_nothing_moved(self, fake, http, redis) -> None:
        """When the inquiry showed the capture did not happen, a failed draw before the retry is UNAVAILABLE."""
        fake.on(MAIN, Operation.CAPTURE, reply("00001"))
        fake.on(BACKUP, Operation.INQUIRY, reply("00000", STATUS="Autorisé"))
        source = FlakyNumQuestions(redis, fail_from=3)
        gae = GaeClient(http, CREDS, (MAIN, BACKUP), source, clock=lambda: NOW)
        result = await gae.capture(leg=Leg.APETIZ, **LEG_ARGS)
        assert result.outcome is GaeOutcome.UNAVAILABLE
        assert fake.ops() == [(MAIN, "00002"), (BACKUP, "00017")]


class TestOperations:
    async def test_capture_success(self, fake, http, redis) -> None:
        """A capture sends TYPE 00002 with ACQUEREUR and reads the answer into a result."""
        fake.on(MAIN, Operation.CAPTURE, reply("00000", "Demande traitée avec succès"))
        result = await client(http, redis).capture(leg=Leg.SODEXO, **LEG_ARGS)
        assert result.ok
        assert result.outcome is GaeOutcome.SUCCESS
        assert result.numtrans == "0722487980"
        assert result.host == MAIN
        assert not result.failed_over
        assert "traitée" in result.message
        sent = fake.requests[0][1]
        assert (sent["TYPE"], sent["ACQUEREUR"], sent["MONTANT"]) == ("00002", "SODEXO", "1500")

    async def test_refused_by_bank(self, fake, http, redis) -> None:
        """A 001xx answer is a refusal, not retried."""
        fake.on(MAIN, Operation.REFUND, reply("00151"))
        result = await client(http, redis).refund(leg=Leg.LIMOCB, **LEG_ARGS)
        assert result.outcome is GaeOutcome.REFUSED
        assert fake.ops() == [(MAIN, "00014")]

    async def test_business_error_is_failed(self, fake, http, redis) -> None:
        """A documented error code is a failure with its meaning and the platform's comment."""
        fake.on(MAIN, Operation.REFUND, reply("00011", "Montant trop élevé"))
        result = await client(http, redis).refund(leg=Leg.APETIZ, **LEG_ARGS)
        assert result.outcome is GaeOutcome.FAILED
        assert result.code == "00011"
        assert "Montant incorrect" in result.message
        assert "Montant trop élevé" in result.message

    async def test_unknown_code_is_kept_logged_and_failed(self, fake, http, redis) -> None:
        """An unknown CODEREPONSE is kept, logged and treated as a failure."""
        fake.on(MAIN, Operation.CAPTURE, reply("00777"))
        with capture_logs() as logs:
            result = await client(http, redis).capture(leg=Leg.APETIZ, **LEG_ARGS)
        assert (result.code, result.outcome) == ("00777", GaeOutcome.FAILED)
        assert {"event": "gae.unknown_code", "code": "00777"}.items() <= logs[0].items()

    @pytest.mark.parametrize(
        ("call", "leg"),
        [("refund", Leg.CVCONNECT), ("cancel", Leg.APETIZ), ("cancel", Leg.CVCONNECT)],
    )
    async def test_leg_capabilities_are_enforced(self, fake, http, redis, call, leg) -> None:
        """Operations a leg does not allow are refused before any request."""
        with pytest.raises(InvalidPaymentRequest, match="cannot be"):
            await getattr(client(http, redis), call)(leg=leg, **LEG_ARGS)
        assert fake.requests == []

    async def test_cancel_of_the_complement(self, fake, http, redis) -> None:
        """The card complement can be cancelled (TYPE 00005, ACQUEREUR LIMOCB)."""
        fake.on(MAIN, Operation.CANCEL, reply("00000"))
        assert (await client(http, redis).cancel(leg=Leg.LIMOCB, **LEG_ARGS)).ok
        assert fake.requests[0][1]["ACQUEREUR"] == "LIMOCB"

    async def test_inquiry_reads_status(self, fake, http, redis) -> None:
        """An inquiry returns STATUS and REMISE."""
        fake.on(MAIN, Operation.INQUIRY, reply("00000", STATUS="Capturé", REMISE="12345"))
        result = await client(http, redis).inquire(
            leg=Leg.APETIZ, numappel=Numappel("2310165"), numtrans=Numtrans("722487980")
        )
        assert (result.status, result.remittance) == ("Capturé", "12345")

    async def test_question_numbers_differ_between_calls(self, fake, http, redis) -> None:
        """Each request carries a new NUMQUESTION."""
        fake.on(MAIN, Operation.CAPTURE, reply("00000"))
        gae = client(http, redis)
        await asyncio.gather(*(gae.capture(leg=Leg.APETIZ, **LEG_ARGS) for _ in range(10)))
        assert len({fields["NUMQUESTION"] for _, fields in fake.requests}) == 10

    async def test_answer_to_another_question_is_not_trusted(self, fake, http, redis) -> None:
        """An answer echoing another NUMQUESTION is treated as no answer (then failover)."""

        def wrong(fields):
            return reply("00000")({**fields, "NUMQUESTION": "0000000001"})

        fake.on(MAIN, Operation.INQUIRY, wrong)
        fake.on(BACKUP, Operation.INQUIRY, reply("00000", STATUS="Autorisé"))
        result = await client(http, redis).inquire(
            leg=Leg.APETIZ, numappel=Numappel("1"), numtrans=Numtrans("2")
        )
        assert result.failed_over
        assert result.host == BACKUP


class TestFailover:
    @pytest.mark.parametrize("code", ["00001", "00003", "00097", "00098"])
    async def test_capture_inquires_then_retries_on_backup(self, fake, http, redis, code) -> None:
        """On a failover code, the backup is asked whether the capture happened, then it is retried."""
        fake.on(MAIN, Operation.CAPTURE, reply(code))
        fake.on(BACKUP, Operation.INQUIRY, reply("00000", STATUS="Autorisé"))
        fake.on(BACKUP, Operation.CAPTURE, reply("00000"))
        result = await client(http, redis).capture(leg=Leg.APETIZ, **LEG_ARGS)
        assert result.ok
        assert result.failed_over
        assert result.host == BACKUP
        assert fake.ops() == [(MAIN, "00002"), (BACKUP, "00017"), (BACKUP, "00002")]

    async def test_capture_already_done_is_not_repeated(self, fake, http, redis) -> None:
        """When the inquiry shows the capture went through, it is not sent again."""
        fake.on(BACKUP, Operation.INQUIRY, reply("00000", STATUS="Capturé"))
        result = await client(http, redis).capture(leg=Leg.APETIZ, **LEG_ARGS)
        assert result.ok
        assert result.confirmed_by_inquiry
        assert fake.ops() == [(MAIN, "00002"), (BACKUP, "00017")]

    async def test_first_refund_confirmed_by_inquiry(self, fake, http, redis) -> None:
        """A lost first refund that the inquiry shows as refunded is reported done, not resent."""
        fake.on(BACKUP, Operation.INQUIRY, reply("00000", STATUS="Rembours\u00e9"))
        result = await client(http, redis).refund(leg=Leg.LIMOCB, first_refund=True, **LEG_ARGS)
        assert result.ok
        assert fake.ops() == [(MAIN, "00014"), (BACKUP, "00017")]

    async def test_later_refund_with_ambiguous_status_is_uncertain(self, fake, http, redis) -> None:
        """If earlier refunds exist, 'Remboursé' proves nothing: UNCERTAIN, never resent."""
        fake.on(MAIN, Operation.REFUND, reply("00097"))
        fake.on(BACKUP, Operation.INQUIRY, reply("00000", STATUS="Remboursé"))
        result = await client(http, redis).refund(leg=Leg.APETIZ, **LEG_ARGS)
        assert result.outcome is GaeOutcome.UNCERTAIN
        assert not result.ok
        assert fake.ops() == [(MAIN, "00014"), (BACKUP, "00017")]

    async def test_refund_not_done_is_retried(self, fake, http, redis) -> None:
        """When the inquiry shows the leg still only captured, the refund is sent to the backup."""
        fake.on(MAIN, Operation.REFUND, reply("00003"))
        fake.on(BACKUP, Operation.INQUIRY, reply("00000", STATUS="Capturé"))
        fake.on(BACKUP, Operation.REFUND, reply("00000", NUMTRANS="0722488001"))
        result = await client(http, redis).refund(leg=Leg.APETIZ, **LEG_ARGS)
        assert result.ok
        assert result.numtrans == "0722488001"
        assert fake.ops() == [(MAIN, "00014"), (BACKUP, "00017"), (BACKUP, "00014")]

    async def test_failed_inquiry_means_uncertain(self, fake, http, redis) -> None:
        """If the inquiry fails too, nothing is retried and the result says it is uncertain."""
        result = await client(http, redis).capture(leg=Leg.APETIZ, **LEG_ARGS)
        assert result.outcome is GaeOutcome.UNCERTAIN
        assert "back office" in result.message
        assert fake.ops() == [(MAIN, "00002"), (BACKUP, "00017")]

    async def test_inquiry_is_retried_directly(self, fake, http, redis) -> None:
        """A read-only inquiry goes straight to the backup on a failover code."""
        fake.on(MAIN, Operation.INQUIRY, reply("00001"))
        fake.on(BACKUP, Operation.INQUIRY, reply("00000", STATUS="Autorisé"))
        result = await client(http, redis).inquire(
            leg=Leg.APETIZ, numappel=Numappel("1"), numtrans=Numtrans("2")
        )
        assert result.ok
        assert fake.ops() == [(MAIN, "00017"), (BACKUP, "00017")]

    async def test_http_error_status_fails_over(self, fake, http, redis) -> None:
        """A non-200 answer counts as no answer."""
        fake.on(MAIN, Operation.INQUIRY, lambda f: httpx.Response(503, text="maintenance"))
        fake.on(BACKUP, Operation.INQUIRY, reply("00000", STATUS="Autorisé"))
        result = await client(http, redis).inquire(
            leg=None, numappel=Numappel("1"), numtrans=Numtrans("2")
        )
        assert result.host == BACKUP

    async def test_single_host_returns_the_platform_error(self, fake, http, redis) -> None:
        """Without a backup, a failover code is returned as a failure, not retried."""
        fake.on(MAIN, Operation.CAPTURE, reply("00001"))
        result = await client(http, redis, urls=(MAIN,)).capture(leg=Leg.APETIZ, **LEG_ARGS)
        assert (result.outcome, result.code) == (GaeOutcome.FAILED, "00001")
        assert fake.ops() == [(MAIN, "00002")]

    async def test_single_host_no_answer(self, fake, http, redis) -> None:
        """Without a backup and without an answer: UNCERTAIN for money, UNAVAILABLE for reads."""
        gae = client(http, redis, urls=(MAIN,))
        assert (await gae.capture(leg=Leg.APETIZ, **LEG_ARGS)).outcome is GaeOutcome.UNCERTAIN
        inquiry = await gae.inquire(leg=None, numappel=Numappel("1"), numtrans=Numtrans("2"))
        assert inquiry.outcome is GaeOutcome.UNAVAILABLE


class TestTimeBudget:
    async def test_hanging_main_host_stays_within_budget(self, fake, http, redis) -> None:
        """A host that never answers cannot make a call exceed its time budget."""

        async def hang(fields):
            await asyncio.sleep(30)
            raise AssertionError("unreachable")

        fake.on(MAIN, Operation.CAPTURE, hang)
        fake.on(BACKUP, Operation.INQUIRY, hang)
        started = time.monotonic()
        result = await client(http, redis, budget=0.6).capture(leg=Leg.APETIZ, **LEG_ARGS)
        elapsed = time.monotonic() - started
        assert elapsed < 1.0
        assert result.outcome is GaeOutcome.UNCERTAIN

    async def test_backup_gets_time_after_a_hanging_main(self, fake, http, redis) -> None:
        """The first attempt uses at most half the budget, so the backup can still answer."""

        async def hang(fields):
            await asyncio.sleep(30)
            raise AssertionError("unreachable")

        fake.on(MAIN, Operation.INQUIRY, hang)
        fake.on(BACKUP, Operation.INQUIRY, reply("00000", STATUS="Autorisé"))
        started = time.monotonic()
        result = await client(http, redis, budget=0.6).inquire(
            leg=None, numappel=Numappel("1"), numtrans=Numtrans("2")
        )
        assert result.ok
        assert time.monotonic() - started < 0.6

    def test_budget_must_stay_under_saleor_timeout(self, http, redis) -> None:
        """A budget reaching Saleor's 18 s is refused; the default is 12 s."""
        with pytest.raises(ValueError, match="18 s"):
            client(http, redis, budget=18)
        assert client(http, redis)._budget == 12.0


class TestCheckCredentials:
    @pytest.mark.parametrize(
        ("code", "verdict"),
        [
            ("00000", CredentialsVerdict.ACCEPTED),
            ("00015", CredentialsVerdict.ACCEPTED),
            ("00018", CredentialsVerdict.ACCEPTED),
            ("00006", CredentialsVerdict.REFUSED),
            ("00014", CredentialsVerdict.INCONCLUSIVE),
        ],
    )
    async def test_verdicts(self, fake, http, redis, code, verdict) -> None:
        """The inquiry's code tells accepted credentials from refused ones."""
        fake.on(MAIN, Operation.INQUIRY, reply(code))
        check = await client(http, redis, urls=(MAIN,)).check_credentials()
        assert check.verdict is verdict
        assert check.code == code
        assert check.ok is (verdict is CredentialsVerdict.ACCEPTED)
        sent = fake.requests[0][1]
        assert sent["TYPE"] == "00017"
        assert "ACQUEREUR" not in sent

    async def test_unreachable(self, fake, http, redis) -> None:
        """No answer from any host is UNAVAILABLE, and the message says so."""
        check = await client(http, redis).check_credentials()
        assert check.verdict is CredentialsVerdict.UNAVAILABLE
        assert KEY not in check.message

    def test_client_repr_hides_key(self, http, redis) -> None:
        """The client's repr names the account but not the key."""
        assert KEY not in repr(client(http, redis))
