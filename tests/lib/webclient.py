#!/usr/bin/python3
"""webclient.py: a WebSocket client of the controller's browser signalling
(proto/PROTOCOL.md, "Browser signalling"), for the web_* tests.

    webclient.py URL CHECK [ARGS...]

Each CHECK drives one scenario and exits 0 if every assertion held, 1
with the reason on stderr otherwise. Everything is bounded: each receive
waits at most a few seconds, loops are counted. Needs python3-websockets
(Debian's /usr/bin/python3).
"""
import asyncio
import hashlib
import json
import os
import sys

import websockets

RECV_TIMEOUT = 5.0
# WC_SRC=127.0.0.5: connect from that loopback address (ban tests).
SRC = os.environ.get("WC_SRC")


def connect(url, **kw):
    if SRC:
        kw["local_addr"] = (SRC, 0)
    return websockets.connect(url, **kw)


class Fail(Exception):
    pass


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


async def recv(ws, timeout=RECV_TIMEOUT):
    try:
        return json.loads(await asyncio.wait_for(ws.recv(), timeout))
    except asyncio.TimeoutError:
        raise Fail("no message within %gs" % timeout)


async def recv_type(ws, want, timeout=RECV_TIMEOUT, limit=50):
    """The next message of type `want` (others are skipped, counted)."""
    for _ in range(limit):
        m = await recv(ws, timeout)
        if m.get("type") == want:
            return m
        if m.get("type") == "error" and want != "error":
            raise Fail("expected %s, got error %s" % (want, m))
    raise Fail("no %s in %d messages" % (want, limit))


async def send(ws, **msg):
    await ws.send(json.dumps(msg))


async def hello(ws):
    await send(ws, type="hello", version=1, seq=1)
    m = await recv(ws)
    if m.get("type") != "hello" or m.get("version") != 1 or m.get("seq") != 1:
        raise Fail("bad hello reply %s" % m)
    return m


async def login(ws, user, password, cnonce="0a1b2c3d4e5f"):
    """Challenge, digest response; returns the reply (logged_in or error)."""
    await send(ws, type="login", username=user, seq=2)
    ch = await recv(ws)
    if ch.get("type") != "challenge" or len(ch.get("nonce", "")) != 32:
        raise Fail("no challenge: %s" % ch)
    ha1 = md5("%s:%s:%s" % (user, ch["realm"], password))
    await send(ws, type="auth", cnonce=cnonce, seq=3,
               response=md5("%s:%s:%s" % (ha1, ch["nonce"], cnonce)))
    return await recv(ws), ch


async def expect_error(ws, code, what):
    m = await recv(ws)
    if m.get("type") != "error" or m.get("code") != code:
        raise Fail("%s: expected error %s, got %s" % (what, code, m))
    if not m.get("message"):
        raise Fail("%s: the error has no message: %s" % (what, m))
    return m


async def expect_closed(ws, code, what, timeout=5.0, limit=200):
    """The server closes with `code` (messages before that are skipped)."""
    try:
        for _ in range(limit):
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed as e:
        if e.rcvd is None or e.rcvd.code != code:
            raise Fail("%s: closed with %s, expected %d" %
                       (what, e.rcvd and e.rcvd.code, code))
        return
    except asyncio.TimeoutError:
        raise Fail("%s: the connection was not closed" % what)
    raise Fail("%s: still open after %d messages" % (what, limit))


async def check_login(url, user, password):
    async with connect(url) as ws:
        h = await hello(ws)
        if h.get("max_message", 0) < 1024:
            raise Fail("hello has no max_message: %s" % h)
        r, ch = await login(ws, user, password)
        if r.get("type") != "logged_in" or r.get("username") != user:
            raise Fail("login refused: %s" % r)
        if password in json.dumps(ch):
            raise Fail("the challenge carries the password")
        await send(ws, type="ping", seq=9)
        if (await recv(ws)).get("type") != "pong":
            raise Fail("no pong")


async def check_login_wrong(url, user, password):
    """A wrong password: auth_failed, the nonce is single use, and the
    third failure on one connection closes it (1008)."""
    async with connect(url) as ws:
        await hello(ws)
        r, ch = await login(ws, user, password + "x")
        if r.get("type") != "error" or r.get("code") != "auth_failed" or r.get("in") != "auth":
            raise Fail("a wrong password was not refused with auth_failed: %s" % r)
        # Replaying a correct answer for a used nonce: no challenge left.
        ha1 = md5("%s:%s:%s" % (user, ch["realm"], password))
        await send(ws, type="auth", cnonce="0a1b2c3d4e5f",
                   response=md5("%s:%s:%s" % (ha1, ch["nonce"], "0a1b2c3d4e5f")))
        await expect_error(ws, "no_challenge", "a second answer to one nonce")
        # An unknown username is refused exactly like a wrong password.
        r, _ = await login(ws, "nobody", "whatever")
        if r.get("code") != "auth_failed":
            raise Fail("an unknown username: %s" % r)
        r, _ = await login(ws, user, "again-wrong")
        if r.get("code") != "auth_failed":
            raise Fail("third failure: %s" % r)
        await expect_closed(ws, 1008, "three failed logins")


async def check_hostile(url, max_message):
    # 1. A call before login: not_logged_in, nothing else happens.
    async with connect(url) as ws:
        await send(ws, type="call", call="c1", to="4411", sdp="v=0\r\n" * 3)
        await expect_error(ws, "not_logged_in",
                           "a call before hello/login")
        await hello(ws)
        await send(ws, type="call", call="c1", to="4411", sdp="v=0\r\n" * 3, seq=5)
        e = await expect_error(ws, "not_logged_in", "a call before login")
        if e.get("seq") != 5 or e.get("in") != "call":
            raise Fail("the error does not name the request: %s" % e)
    # 2. Unknown type, unknown field, bad values: clear errors.
    async with connect(url) as ws:
        await hello(ws)
        await send(ws, type="frobnicate")
        await expect_error(ws, "unknown_type", "an unknown type")
        await send(ws, type="login", username="alice", evil=1)
        e = await expect_error(ws, "unknown_field", "an unknown field")
        if "evil" not in e["message"]:
            raise Fail("the error does not name the field: %s" % e)
        await send(ws, type="login", username="a\u0001b")
        await expect_error(ws, "invalid_value", "a control character")
        await send(ws, type="login", username="x" * 100)
        await expect_error(ws, "invalid_value", "a long username")
        # The fifth bad message closes the connection (max_errors 5).
        await ws.send("{not json")
        await expect_error(ws, "bad_json", "bad JSON")
        await expect_closed(ws, 1008, "five bad messages")
    # 3. A flood of malformed JSON: answered up to the limit, then closed.
    async with connect(url) as ws:
        for i in range(200):
            try:
                await ws.send("][" * (i % 7 + 1))
            except websockets.ConnectionClosed:
                break
        await expect_closed(ws, 1008, "a flood of malformed JSON")
    # 4. An oversized message: too_large, then closed with 1009.
    async with websockets.connect(url, max_size=None) as ws:
        await hello(ws)
        await ws.send(json.dumps({"type": "login", "username": "a" * (max_message + 10)}))
        await expect_closed(ws, 1009, "an oversized message")
    # 5. Oversized in fragments (each small): the same.
    async with connect(url) as ws:
        await hello(ws)
        part = "x" * 1000
        await ws.send(iter(['{"type":"login","username":"'] +
                           [part] * (max_message // 1000 + 2) + ['"}']))
        await expect_closed(ws, 1009, "an oversized fragmented message")
    # 6. A binary frame: closed (1003).
    async with connect(url) as ws:
        await ws.send(b"\x00\x01\x02")
        await expect_closed(ws, 1003, "a binary message")
    # 7. After all that, a normal login still works.
    await check_login(url, "alice", "apass")


async def check_rate(url, n):
    """Valid pings faster than the rate: some are dropped, counted; the
    connection stays usable once the bucket refills."""
    async with connect(url) as ws:
        await hello(ws)
        for i in range(n):
            await send(ws, type="ping", seq=100 + i)
        got = 0
        try:
            for _ in range(n):
                m = await recv(ws, 1.0)
                if m.get("type") == "pong":
                    got += 1
        except Fail:
            pass
        if got >= n:
            raise Fail("all %d pings were answered: no rate limit" % n)
        if got == 0:
            raise Fail("no ping answered at all")
        await asyncio.sleep(1.0)
        await send(ws, type="ping", seq=1)
        if (await recv(ws)).get("type") != "pong":
            raise Fail("no pong after the bucket refilled")
        print("answered %d of %d" % (got, n))


async def check_ban(url, user, password, tries):
    """Failed logins over the protection limit ban the username: even the
    right password is then refused."""
    for i in range(tries):
        async with connect(url) as ws:
            await hello(ws)
            r, _ = await login(ws, user, "wrong%d" % i)
            if r.get("code") != "auth_failed":
                raise Fail("wrong password %d: %s" % (i, r))
    async with connect(url) as ws:
        await hello(ws)
        r, _ = await login(ws, user, password)
        if r.get("code") != "auth_failed":
            raise Fail("a banned username logged in: %s" % r)


def main():
    url, check, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    fn = {
        "login": lambda: check_login(url, args[0], args[1]),
        "login_wrong": lambda: check_login_wrong(url, args[0], args[1]),
        "hostile": lambda: check_hostile(url, int(args[0])),
        "rate": lambda: check_rate(url, int(args[0])),
        "ban": lambda: check_ban(url, args[0], args[1], int(args[2])),
    }.get(check)
    if fn is None:
        import webcall  # the call checks live next to this file
        fn = lambda: webcall.run(url, check, args)
    try:
        asyncio.run(asyncio.wait_for(fn(), 60))
    except Fail as e:
        print("FAIL: %s: %s" % (check, e), file=sys.stderr)
        sys.exit(1)
    except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as e:
        print("FAIL: %s: %r" % (check, e), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
