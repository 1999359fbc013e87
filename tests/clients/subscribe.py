"""Subscribes to a GraphQL subscription with the `gql` client over WebSocket and prints
each result as one JSON line, then exits after COUNT results. With COUNT 0 it prints
every result until the server completes the subscription, then `COMPLETE`.

    python3 tests/clients/subscribe.py ws://127.0.0.1:PORT/graphql PROTOCOL QUERY COUNT [TOKEN]

PROTOCOL is `graphql-transport-ws` or the legacy `graphql-ws`. The client sends
`{"Authorization": "Bearer TOKEN"}` in connection_init (TOKEN: a session token from logIn). It prints `READY` once the server acknowledged
the connection and the subscribe message has gone out (neither protocol acknowledges a
subscription itself, so a caller should still allow for a moment before it is live).
A result with errors (gql raises on those) or a failed connection ends it with a
traceback on stderr and a non-zero exit.
"""

import asyncio
import json
import sys

from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

PROTOCOLS = {
    "graphql-transport-ws": WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL,
    "graphql-ws": WebsocketsTransport.APOLLO_SUBPROTOCOL,
}


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(url: str, protocol: str, query: str, count: int, token: str) -> None:
    transport = WebsocketsTransport(
        url=url,
        subprotocols=[PROTOCOLS[protocol]],
        init_payload={"Authorization": f"Bearer {token}"},
        connect_timeout=20,
        ack_timeout=20,
    )
    async with Client(transport=transport) as session:
        if transport.subprotocol != PROTOCOLS[protocol]:
            raise SystemExit(f"the server chose {transport.subprotocol!r}, not {protocol!r}")
        results = session.subscribe(gql(query))
        # The first step of the generator sends the subscribe message and registers a
        # listener, then waits for a result: run it aside and say READY once it is sent.
        first = asyncio.ensure_future(results.__anext__())
        while not transport.listeners and not first.done():
            await asyncio.sleep(0.01)
        emit("READY")
        received = 0
        try:
            result = await first
            while True:
                emit(json.dumps({"data": result}, sort_keys=True))
                received += 1
                if received == count:
                    break
                result = await results.__anext__()
        except StopAsyncIteration:
            if count:
                raise SystemExit(f"the server completed the subscription after {received} of {count} results")
            emit("COMPLETE")
        await results.aclose()


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6) or sys.argv[2] not in PROTOCOLS:
        sys.exit(f"usage: {sys.argv[0]} URL {{{'|'.join(PROTOCOLS)}}} QUERY COUNT [TOKEN]")
    url, protocol, query, count = sys.argv[1:5]
    token = sys.argv[5] if len(sys.argv) == 6 else "maestro-test-token"
    asyncio.run(main(url, protocol, query, int(count), token))
