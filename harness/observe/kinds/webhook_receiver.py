"""``webhook_receiver``: the endpoint the service sends its webhooks to, played by the harness.

    observe:
      - name: hooks
        webhook_receiver:
          env: WEBHOOK_URL                    # the service finds the endpoint's URL here
          secret: WEBHOOK_SECRET              # the variable holding the signing secret
          scheme: standard                    # or stripe, github
          retry_policy: {delays: [0.2s, 0.5s, 1s, 2s]}   # or a preset: stripe
          id: {jsonpath: "$.data.event_id"}   # the input event's id in each webhook

The same recording server and Toxiproxy proxy as a ``downstream`` (``Downstream``, which this
extends): the service is handed the proxy's URL, so network toxics on the receiver's name
(``reset_peer``, ``timeout``...) reach its deliveries, and ``downstream:`` faults naming it make
it answer 500, 503, 429 with ``Retry-After``, 410, slowly, or never for a while.

Every webhook is first verified with the scheme's verifier (``harness.webhooks.signing``); one
that does not verify is answered 401 and never accepted. Each request is a ``request`` row
(attempt number per event id, status, ``Retry-After``, timing) with the webhook's own id
(``msg_id``) and the verifier's verdict (``signature``: ``valid`` or why not); each webhook
answered 2xx is a ``recv`` row of group ``webhook:<name>``: the event reached the receiver. With
``schema``, a verified webhook's body is also held to that JSON Schema: its ``request`` row's
``reason`` is ``contract_held``, or ``invalid_output: <why>`` (taken all the same: a contract
breach is counted, not refused). The
declaration row carries the sender's declared retry policy (``policy``, JSON) for the checks.

The secret is read from the harness's environment when that variable is set there; otherwise
one is made for the run and handed to the service in it. It is never written to the history.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from harness.observe.context import ObserveContext
from harness.observe.http_server import RecordingServer, RequestRecord, Screening
from harness.observe.kinds.downstream import Downstream
from harness.observe.output_contract import CONTRACT_HELD, INVALID_OUTPUT, OutputContract
from harness.safety import check_target
from harness.scenario.observe import SenderRetryPolicy, WebhookReceiverSource
from harness.webhooks import PRESETS, SCHEMES, fresh_secret

VALID = "valid"
GROUP_PREFIX = "webhook:"
REFUSE_STATUS = 401


def declared_policy(policy: SenderRetryPolicy) -> dict[str, Any]:
    """The declared retry policy as the checks read it: scaled waits, in seconds."""
    honour, disable = True, True
    if policy.preset is not None:
        preset = PRESETS[policy.preset].scaled(policy.time_scale)
        delays = [float(d) for d in preset.delays]
        honour, disable = preset.honour_retry_after, preset.disable_on_410
    else:
        delays = [float(d) * policy.time_scale for d in policy.delays or ()]
    tolerance = policy.tolerance
    return {
        "delays": delays,
        "honour_retry_after": honour
        if policy.honour_retry_after is None
        else policy.honour_retry_after,
        "disable_on_410": disable if policy.disable_on_410 is None else policy.disable_on_410,
        "early": tolerance.early,
        "early_s": tolerance.early_s,
        "late": tolerance.late,
        "late_s": tolerance.late_s,
    }


class WebhookReceiver(Downstream):
    """The service's webhook endpoint (``kind: webhook_receiver``)."""

    kind: ClassVar[str] = "webhook_receiver"
    observes: ClassVar[str] = "recv"
    settings: WebhookReceiverSource  # type: ignore[assignment]

    def __init__(self, name: str, settings: WebhookReceiverSource, ctx: ObserveContext) -> None:
        check_target(settings.host)
        given = os.environ.get(settings.secret)
        self._secret = given or fresh_secret(settings.scheme)
        self._hand_secret = not given
        self._scheme = SCHEMES[settings.scheme]
        self.policy = declared_policy(settings.retry_policy)
        schema = settings.schema_
        self._contract = OutputContract(schema.document("webhook")) if schema else None
        super().__init__(name, settings, ctx)  # type: ignore[arg-type]
        self.group = f"{GROUP_PREFIX}{name}"

    def _server(self, rng: random.Random) -> RecordingServer:
        return RecordingServer(
            self.settings.id.extract,
            self._on_request,
            self._on_effect,
            idempotency_key=None,
            rng=rng,
            host=self.settings.host,
            port=self.settings.port,
            screen=self._verify,
        )

    def env(self) -> dict[str, str]:
        handed = {self.settings.secret: self._secret} if self._hand_secret else {}
        return {self.settings.env: self.url, **handed}

    def declaration(self) -> Mapping[str, Any]:
        return {**super().declaration(), "policy": json.dumps(self.policy)}

    def describe(self) -> str:
        return f"webhook receiver {self.name!r}"

    def _verify(self, headers: Mapping[str, str], body: bytes) -> Screening:
        verdict = self._scheme.verify(
            headers=headers,
            body=body,
            secrets=[self._secret],
            now=time.time(),
            tolerance=self.settings.tolerance,
        )
        fields = {"msg_id": verdict.msg_id, "signature": VALID if verdict.ok else verdict.reason}
        if not verdict.ok:
            self.count("bad_signatures")
        elif self._contract is not None:
            problem = self._contract.problem(body)
            fields["reason"] = CONTRACT_HELD if problem is None else f"{INVALID_OUTPUT}: {problem}"
            if problem is not None:
                self.count("invalid_bodies")
        return Screening(fields, None if verdict.ok else REFUSE_STATUS)

    def _on_effect(self, request: RequestRecord) -> None:
        self.record(request.id, request.t, attempt=request.attempt, group=self.group)


KIND = WebhookReceiver

__all__ = ["GROUP_PREFIX", "KIND", "VALID", "WebhookReceiver", "declared_policy"]
