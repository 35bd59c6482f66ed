"""The webhook_receiver source through real HTTP calls on loopback (no Toxiproxy): each webhook is
verified with the scheme's own verifier, recorded as a request with its webhook id and verdict,
and accepted (a recv of the receiver's group) only when it verifies."""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiohttp
import pandas as pd
import pytest

from harness.checks import check
from harness.drivers import ListRecorder
from harness.observe import ObserveContext
from harness.observe.kinds.webhook_receiver import KIND
from harness.scenario.observe import WebhookReceiverSource
from harness.webhooks import SCHEMES


def source(tmp_path: Path, recorder: ListRecorder, **settings: object) -> KIND:
    model = WebhookReceiverSource.model_validate(
        {
            "retry_policy": {"delays": ["200ms", "1s"]},
            "id": {"jsonpath": "$.data.event_id"},
            "secret": "TEST_HOOK_SECRET",
            **settings,
        }  # fmt: skip
    )
    ctx = ObserveContext(
        stack=None, run_id="1-abc", recorder=recorder, work_dir=tmp_path, state_dir=tmp_path,
        target_kind="kafka", destination="orders", dead_letters="orders.dlq",
    )  # fmt: skip
    return KIND("partner", model, ctx)


async def post(url: str, event_id: str, secret: str, scheme: str = "standard") -> int:
    body = json.dumps({"id": f"msg_{event_id}", "data": {"event_id": event_id}}).encode()
    headers = SCHEMES[scheme].sign(
        msg_id=f"msg_{event_id}", timestamp=int(time.time()), body=body, secrets=[secret]
    )
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body, headers=headers) as response:
            return response.status


@pytest.mark.parametrize("scheme", ["standard", "stripe", "github"])
async def test_signed_webhooks_are_accepted_and_forged_ones_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    monkeypatch.delenv("TEST_HOOK_SECRET", raising=False)
    recorder = ListRecorder()
    receiver = source(tmp_path, recorder, scheme=scheme)
    recorder.append(receiver.declaration())
    await receiver.start()
    try:
        env = receiver.env()
        secret = env["TEST_HOOK_SECRET"]  # made for the run and handed to the service
        assert await post(env["WEBHOOK_URL"], "e1", secret, scheme) == 200
        forged = "whsec_" + "QUJDREVGR0hJSktMTU5PUA==" if scheme == "standard" else "wrong"
        assert await post(env["WEBHOOK_URL"], "e2", forged, scheme) == 401
        assert await receiver.drain(2.0)
    finally:
        await receiver.stop()
    rows = recorder.rows
    requests = {r["id"]: r for r in rows if r["op"] == "request"}
    assert requests["e1"]["signature"] == "valid" and requests["e1"]["http_status"] == 200
    assert requests["e2"]["signature"] == "bad_signature" and requests["e2"]["http_status"] == 401
    assert [(r["id"], r["group"]) for r in rows if r["op"] == "recv"] == [("e1", "webhook:partner")]
    assert not any(secret in json.dumps(r) for r in rows)
    sends = [{"op": "send", "id": i, "key": "k", "seq": n, "t": 0.0, "t_ack": 0.0,
              "status": "ok"} for n, i in enumerate(["e1", "e2"])]  # fmt: skip
    found = check(pd.DataFrame(sends + rows)).anomalies
    assert (found["bad_signature"], found["lost"]) == (1, 1)


async def test_the_secret_in_the_harness_environment_is_used_and_not_handed_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "whsec_" + "c2VjcmV0LWZvci10aGUtdGVzdA=="
    monkeypatch.setenv("TEST_HOOK_SECRET", secret)
    recorder = ListRecorder()
    receiver = source(tmp_path, recorder)
    await receiver.start()
    try:
        assert "TEST_HOOK_SECRET" not in receiver.env()
        assert await post(receiver.env()["WEBHOOK_URL"], "e1", secret) == 200
    finally:
        await receiver.stop()


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"retry_policy": {"preset": "stripe", "delays": ["1s"]}}, "either preset"),
        ({"retry_policy": "paypal"}, "unknown preset"),
        ({"retry_policy": "stripe", "scheme": "hmac"}, "unknown scheme"),
        ({"retry_policy": "stripe", "secret": "whsec_abc+def"}, "not an environment variable"),
        ({"retry_policy": "stripe", "listen": "localhost:80"}, "listen"),
    ],
)
def test_bad_receiver_settings_are_refused_with_the_reason(settings: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        WebhookReceiverSource.model_validate(settings)


def test_slow_body_goes_with_neither_hang_nor_drop_response() -> None:
    from harness.faults.kinds.downstream import DownstreamFault

    with pytest.raises(ValueError, match="slow_body"):
        DownstreamFault.model_validate({"slow_body": "2s", "hang": True})
    assert DownstreamFault.model_validate({"slow_body": "2s"}).what() == "slow_body 2s"
