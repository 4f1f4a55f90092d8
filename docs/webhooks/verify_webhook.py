"""Verify a lab orchestrator webhook (Standard Webhooks), with the standard library only.

In an Open edX plugin's Django view:

    if not verify(settings.LABS_WEBHOOK_SECRET, request.headers, request.body):
        return HttpResponse(status=401)
"""
import base64
import hashlib
import hmac
import json
import sys
import time


def verify(secret: str, headers: dict, body: bytes, tolerance: int = 300) -> bool:
    headers = {name.lower(): value for name, value in headers.items()}
    try:
        msg_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        signatures = headers["webhook-signature"].split(" ")
        key = base64.b64decode(secret.removeprefix("whsec_"))
    except (KeyError, ValueError):
        return False
    # An old timestamp is a replayed delivery (or a clock far off): refuse it either way.
    if abs(time.time() - timestamp) > tolerance:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = b"v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    # During a secret rotation the sender signs with both: any one match will do.
    return any(hmac.compare_digest(expected, s.encode()) for s in signatures)


if __name__ == "__main__":
    # For the tests: {"secret": ..., "headers": {...}, "body": "..."} on stdin.
    request = json.load(sys.stdin)
    ok = verify(request["secret"], request["headers"], request["body"].encode())
    print("valid" if ok else "invalid")
