"""The OCPP-J endpoint declines permessage-deflate: its per-connection zlib state would cost more memory than
the small OCPP frames save in bandwidth."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import websockets


def test_deflate_offer_is_declined(add_charger, live_server):
    add_charger("CPZ")

    async def handshake():
        async with websockets.connect(
            f"{live_server.ws_url}/ocpp/CPZ", subprotocols=["ocpp1.6"], compression="deflate"
        ) as ws:
            assert ws.request.headers.get("Sec-WebSocket-Extensions")  # the client did offer it
            await ws.send('[2,"1","Heartbeat",{}]')
            answer = await ws.recv()
            return ws.response.headers.get("Sec-WebSocket-Extensions"), ws.subprotocol, answer

    # A thread of its own: a sync Playwright session in the same test run keeps an event loop on this one.
    with ThreadPoolExecutor(1) as pool:
        extensions, subprotocol, answer = pool.submit(asyncio.run, handshake()).result(30)
    assert extensions is None
    assert subprotocol == "ocpp1.6"
    assert answer.startswith('[4,"1","SecurityError"')  # served normally (not booted yet)
