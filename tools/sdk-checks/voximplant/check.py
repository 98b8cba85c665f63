"""Drives the official Voximplant Python SDK (`voximplant-apiclient`) against a local stratad.

    REQUESTS_CA_BUNDLE=ca.pem python check.py --endpoint 127.0.0.1:PORT \
        --credentials DATA_DIR/voximplant-credentials.json

stratad must serve HTTPS (the SDK hard-codes https) with a certificate signed by the CA in
REQUESTS_CA_BUNDLE, and hold the account of the credentials file (its zero-config first start
writes one, with application 1 named `app.<account_id>.voximplant.com`). The application must
start empty. Exits 0 when every result matches, 1 at the first mismatch (with what was
expected and what came back). See docs/sdk-checks.md.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from voximplant.apiclient import VoximplantAPI, VoximplantException

# Server and client share a clock, but a slow CI machine may take a while between the call
# and our own reading of the time.
CLOCK_SLACK_SECS = 60
# Voximplant's documented limits (CONTRACT §4.4), as the server enforces them.
TTL_SECS_DEFAULT = 2_592_000
TTL_SECS_MAX = 7_776_000
VALUE_CHARS_MAX = 2000
KEY_CHARS_MAX = 200
# Strata's error codes for these methods (docs/api/voximplant.md).
CODE_AUTH_FAILED = 100
CODE_INVALID_ARGUMENTS = 101
CODE_INVALID_APPLICATION_NAME = 107
CODE_APPLICATION_NOT_FOUND = 901
CODE_KEY_NOT_FOUND = 902


class Mismatch(Exception):
    pass


def expect(actual, expected, what):
    if actual != expected:
        raise Mismatch(f"{what}: expected {expected!r}, got {actual!r}")


def expect_near(actual, expected, what):
    if not isinstance(actual, int) or abs(actual - expected) > CLOCK_SLACK_SECS:
        raise Mismatch(f"{what}: expected an integer within {CLOCK_SLACK_SECS} s of {expected}, got {actual!r}")


def expect_error(call, code, what):
    """`call` must raise VoximplantException with this code."""
    try:
        result = call()
    except VoximplantException as e:
        expect(e.code, code, f"{what}: error code (message {e.message!r})")
        return e
    raise Mismatch(f"{what}: expected VoximplantException code {code}, got result {result!r}")


def ok(what):
    print(f"ok   {what}", flush=True)


def item(result, key, value, expires_at_near, what):
    expect(sorted(result), ["expires_at", "key", "value"], f"{what}: fields")
    expect(result["key"], key, f"{what}: key")
    expect(result["value"], value, f"{what}: value")
    expect_near(result["expires_at"], expires_at_near, f"{what}: expires_at")


def run(api, app_id, app_name, credentials):
    now = int(time.time())
    cyrillic_key = "sdk:ключ"
    tricky_value = "значение & = + %20 ; #"

    # SetKeyValueItem: ttl, default ttl, explicit expires_at; the answer echoes the item.
    res = api.set_key_value_item(cyrillic_key, tricky_value, app_id, ttl=120)
    item(res["result"], cyrillic_key, tricky_value, now + 120, "SetKeyValueItem ttl=120")
    res = api.set_key_value_item("sdk:b", "two", app_id)
    item(res["result"], "sdk:b", "two", now + TTL_SECS_DEFAULT, "SetKeyValueItem default ttl")
    expires_at = now + 600
    res = api.set_key_value_item("sdk:c", "three", app_id, expires_at=expires_at)
    expect(res["result"]["expires_at"], expires_at, "SetKeyValueItem expires_at: expires_at")
    res = api.set_key_value_item("other:x", "", app_id, application_name=app_name)
    item(res["result"], "other:x", "", now + TTL_SECS_DEFAULT, "SetKeyValueItem empty value, with application_name")
    long_value = "v" * VALUE_CHARS_MAX
    long_key = "k" * KEY_CHARS_MAX
    res = api.set_key_value_item(long_key, long_value, app_id)
    expect(res["result"]["value"], long_value, "SetKeyValueItem value of the maximal length")
    ok("SetKeyValueItem (ttl, default ttl, expires_at, application_name, Cyrillic key, maximal key and value)")

    # An existing key is replaced (Upsert).
    res = api.set_key_value_item("sdk:b", "two-v2", app_id, ttl=300)
    item(res["result"], "sdk:b", "two-v2", now + 300, "SetKeyValueItem replace")
    ok("SetKeyValueItem replaces an existing key")

    # GetKeyValueItem.
    res = api.get_key_value_item(cyrillic_key, app_id)
    item(res["result"], cyrillic_key, tricky_value, now + 120, "GetKeyValueItem")
    res = api.get_key_value_item("sdk:b", app_id, application_name=app_name)
    expect(res["result"]["value"], "two-v2", "GetKeyValueItem after replace")
    ok("GetKeyValueItem")

    # GetKeyValueItems: prefix match, key order (UTF-8 byte order puts Cyrillic last), paging.
    res = api.get_key_value_items("sdk", app_id)
    got = [(i["key"], i["value"]) for i in res["result"]]
    expect(got, [("sdk:b", "two-v2"), ("sdk:c", "three"), (cyrillic_key, tricky_value)], "GetKeyValueItems sdk")
    res = api.get_key_value_items("sdk:", app_id, count=1, offset=1)
    expect([i["key"] for i in res["result"]], ["sdk:c"], "GetKeyValueItems count=1 offset=1")
    res = api.get_key_value_items("nothing-here", app_id)
    expect(res["result"], [], "GetKeyValueItems of an unused prefix")
    ok("GetKeyValueItems (prefix, order, count, offset)")

    # GetKeyValueKeys: keys with expiry, no values; without a prefix every key.
    res = api.get_key_value_keys(app_id, key="sdk:")
    expect([sorted(k) for k in res["result"]], [["expires_at", "key"]] * 3, "GetKeyValueKeys fields")
    expect([k["key"] for k in res["result"]], ["sdk:b", "sdk:c", cyrillic_key], "GetKeyValueKeys sdk:")
    expect(res["result"][1]["expires_at"], expires_at, "GetKeyValueKeys expires_at")
    res = api.get_key_value_keys(app_id, count=50)
    expect([k["key"] for k in res["result"]], [long_key, "other:x", "sdk:b", "sdk:c", cyrillic_key], "GetKeyValueKeys all")
    res = api.get_key_value_keys(app_id, count=2, offset=3)
    expect([k["key"] for k in res["result"]], ["sdk:c", cyrillic_key], "GetKeyValueKeys count=2 offset=3")
    ok("GetKeyValueKeys (prefix, all, count, offset)")

    # DelKeyValueItem; then the key is gone for every method.
    res = api.del_key_value_item("sdk:b", app_id)
    expect(res["result"], 1, "DelKeyValueItem result")
    expect_error(lambda: api.get_key_value_item("sdk:b", app_id), CODE_KEY_NOT_FOUND, "GetKeyValueItem after delete")
    expect_error(lambda: api.del_key_value_item("sdk:b", app_id), CODE_KEY_NOT_FOUND, "DelKeyValueItem twice")
    res = api.get_key_value_keys(app_id, key="sdk:")
    expect([k["key"] for k in res["result"]], ["sdk:c", cyrillic_key], "GetKeyValueKeys after delete")
    ok("DelKeyValueItem (then 902 for get and a second delete)")

    # ttl=0 stores an already expired item: invisible at once.
    api.set_key_value_item("sdk:c", "gone", app_id, ttl=0)
    expect_error(lambda: api.get_key_value_item("sdk:c", app_id), CODE_KEY_NOT_FOUND, "GetKeyValueItem of an expired item")
    res = api.get_key_value_items("sdk:", app_id)
    expect([i["key"] for i in res["result"]], [cyrillic_key], "GetKeyValueItems hides expired items")
    ok("ttl=0 expires an item at once")

    # Bad input: the SDK raises VoximplantException with the server's code; nothing changes.
    expect_error(lambda: api.set_key_value_item("bad key", "v", app_id), CODE_INVALID_ARGUMENTS, "key with a space")
    expect_error(lambda: api.set_key_value_item("k" * (KEY_CHARS_MAX + 1), "v", app_id), CODE_INVALID_ARGUMENTS, "key too long")
    expect_error(lambda: api.set_key_value_item("sdk:v", "v" * (VALUE_CHARS_MAX + 1), app_id), CODE_INVALID_ARGUMENTS, "value too long")
    expect_error(lambda: api.set_key_value_item("sdk:t", "v", app_id, ttl=TTL_SECS_MAX + 1), CODE_INVALID_ARGUMENTS, "ttl too large")
    expect_error(lambda: api.set_key_value_item("sdk:t", "v", app_id, ttl=5, expires_at=now + 5), CODE_INVALID_ARGUMENTS, "ttl and expires_at")
    expect_error(lambda: api.get_key_value_items("sdk", app_id, count=51), CODE_INVALID_ARGUMENTS, "count over 50")
    expect_error(lambda: api.get_key_value_item("sdk:c", 99), CODE_APPLICATION_NOT_FOUND, "unknown application_id")
    expect_error(
        lambda: api.get_key_value_item("sdk:c", app_id, application_name="nope.voximplant.com"),
        CODE_INVALID_APPLICATION_NAME,
        "unknown application_name",
    )
    res = api.get_key_value_keys(app_id)
    expect([k["key"] for k in res["result"]], [long_key, "other:x", cyrillic_key], "keys after refused writes")
    ok("invalid arguments, unknown application id and name raise VoximplantException (101, 901, 107)")

    # A token signed with another key under the same key id is refused (code 100).
    forged = dict(credentials)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged["private_key"] = other_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(forged, f)
        f.flush()
        forged_api = VoximplantAPI(f.name, endpoint=api.endpoint)
        expect_error(lambda: forged_api.get_key_value_keys(app_id), CODE_AUTH_FAILED, "token signed with a foreign key")
    ok("a JWT signed with a foreign key is refused (100)")

    # TLS is verified for real: without the test CA the SDK cannot connect.
    saved = {name: os.environ.pop(name, None) for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")}
    try:
        api.get_key_value_keys(app_id)
        raise Mismatch("without the test CA the TLS handshake should fail, but the call succeeded")
    except httpx.ConnectError as e:
        if "CERTIFICATE_VERIFY_FAILED" not in str(e):
            raise Mismatch(f"without the test CA: expected CERTIFICATE_VERIFY_FAILED, got {e!r}")
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})
    ok("the server certificate is verified (untrusted without the test CA)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="host:port of stratad (HTTPS)")
    parser.add_argument("--credentials", required=True, help="voximplant-credentials.json")
    parser.add_argument("--application-id", type=int, default=1)
    parser.add_argument("--application-name", help="default: app.<account_id>.voximplant.com")
    args = parser.parse_args()
    if not os.environ.get("REQUESTS_CA_BUNDLE"):
        sys.exit("REQUESTS_CA_BUNDLE must name the CA that signed stratad's certificate")

    with open(args.credentials) as f:
        credentials = json.load(f)
    app_name = args.application_name or f"app.{credentials['account_id']}.voximplant.com"
    api = VoximplantAPI(args.credentials, endpoint=args.endpoint)
    try:
        run(api, args.application_id, app_name, credentials)
    except Mismatch as e:
        print(f"FAIL {e}", flush=True)
        return 1
    except VoximplantException as e:
        print(f"FAIL unexpected VoximplantException {e.code}: {e.message}", flush=True)
        return 1
    print("voximplant: all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
