"""Masking of secrets in payloads (django_jobqueue.masking)."""

from __future__ import annotations

import json

from django_jobqueue.masking import MASK, mask_payload, masked_payload_text
from tests.support.settings_overrides import jobqueue


def payload(job="tests.jobs.Charge", args=(), kwargs=None, **extra):
    return {"job": job, "data": {"args": list(args), "kwargs": kwargs or {}}, **extra}


def test_keys_matching_the_pattern_are_masked_at_any_depth():
    masked = mask_payload(payload(job="nope", kwargs={
        "user": {"password": "p", "name": "n", "items": [{"Api_Key": "x"}]}}))
    assert masked["data"]["kwargs"]["user"] == {
        "password": MASK, "name": "n", "items": [{"Api_Key": MASK}]}


def test_sensitive_fields_of_the_job_class_positional_and_keyword():
    masked = mask_payload(payload(args=["4111", 10, "key"]))
    assert masked["data"]["args"] == [MASK, 10, MASK]  # card_number, amount, api_key
    assert mask_payload(payload(kwargs={"card_number": "4111", "amount": 5}))["data"][
        "kwargs"] == {"card_number": MASK, "amount": 5}


def test_unknown_job_class_keeps_only_the_key_pattern():
    masked = mask_payload(payload(job="os.system", args=["rm"], kwargs={"card_number": "1"}))
    assert masked["data"] == {"args": ["rm"], "kwargs": {"card_number": "1"}}


def test_pattern_is_a_setting():
    with jobqueue(SENSITIVE_KEYS=r"^note$"):
        masked = mask_payload(payload(job="nope", kwargs={"note": "n", "password": "p"}))
    assert masked["data"]["kwargs"] == {"note": MASK, "password": "p"}
    with jobqueue(SENSITIVE_KEYS=""):
        assert mask_payload(payload(job="nope", kwargs={"token": "t"}))["data"]["kwargs"] == {
            "token": "t"}


def test_unreadable_payload_is_hidden_whole():
    assert masked_payload_text("not json with secret") == (
        "(unreadable payload, 20 characters, hidden)")
    assert masked_payload_text("[1]").startswith("(unreadable payload")
    text = masked_payload_text(json.dumps(payload(args=["4111", 1])))
    assert "4111" not in text and json.loads(text)["data"]["args"][1] == 1


def test_the_steps_a_chain_step_holds_are_masked_by_their_own_job_class():
    held = [payload(args=["4111", 10]), payload(job="nope", kwargs={"card_number": "9"})]
    step = payload(job="nope", args=[1], chain={"id": "c", "step": 0, "steps": 3, "rest": held})
    masked = mask_payload(step)
    assert masked["chain"]["rest"][0]["data"]["args"] == [MASK, 10]
    assert masked["chain"]["rest"][1]["data"]["kwargs"] == {"card_number": "9"}  # unknown class
    assert "4111" not in masked_payload_text(json.dumps(step))
    assert step["chain"]["rest"][0]["data"]["args"][0] == "4111", "the original is untouched"
