"""What a browser front-end sees at the HTTP level: CORS, redirects, 405, 422.

Preflights and refusals are checked through a real uvicorn as well, since a
browser talks to the real server; the rest in process.
"""

import asyncio
import json
import select
import socket
from collections.abc import Iterator, Sequence

import httpx
import pytest
import websockets
from fastapi.testclient import TestClient

from trading_api.app_factory import AppFactory, ModularFastAPI
from trading_api.shared.auth.testing import sign_in
from trading_api.shared.http_cors import OriginError
from trading_api.shared.settings import (
    DEFAULT_CORS_ORIGINS,
    DEFAULT_MAX_BODY_BYTES,
    Settings,
    SettingsError,
)
from trading_api.shared.testing import http_get, http_post, serve

VITE = "http://localhost:5173"
STRANGER = "https://evil.example"
ORDERS = "/api/v1/broker/orders"
MARKET_BUY = {"symbol": "AAPL", "type": 2, "side": 1, "qty": 1}


def build(*origins: str) -> ModularFastAPI:
    settings = Settings(cors_origins=origins or DEFAULT_CORS_ORIGINS)
    return sign_in(AppFactory(settings=settings).create_app())


@pytest.fixture(scope="module")
def app() -> ModularFastAPI:
    return build()


@pytest.fixture(scope="module")
def client(app: ModularFastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def base_url(app: ModularFastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type, authorization",
    }


@pytest.mark.parametrize(
    ("path", "method", "methods"),
    [
        ("/api/v1/core/health", "GET", "GET, OPTIONS"),
        (ORDERS, "POST", "GET, OPTIONS, POST"),
        (f"{ORDERS}/ORDER-1", "PUT", "DELETE, OPTIONS, PUT"),
        ("/api/v1/datafeed/quotes", "POST", "OPTIONS, POST"),
        ("/api/v1/openapi.json", "GET", "GET, HEAD, OPTIONS"),
    ],
)
def test_preflight_grants_exactly_the_methods_of_the_path_on_every_module(
    base_url: str, path: str, method: str, methods: str
) -> None:
    response = httpx.options(f"{base_url}{path}", headers=preflight(VITE, method))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == VITE
    assert response.headers["access-control-allow-methods"] == methods
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert allowed_headers == "content-type, authorization"


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/core/health", "POST"),
        (ORDERS, "DELETE"),
        (f"{ORDERS}/ORDER-1", "PATCH"),
        (f"{ORDERS}/preview", "PUT"),
        ("/api/v1/openapi.json", "DELETE"),
        ("/api/v1/no-such-module/things", "GET"),
    ],
)
def test_preflight_for_a_method_the_path_does_not_serve_is_refused(
    client: TestClient, path: str, method: str
) -> None:
    response = client.options(path, headers=preflight(VITE, method))
    assert response.status_code == 400
    assert f"method {method} is not served here" in response.text
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-methods" not in response.headers


def test_preflight_asking_for_a_header_the_api_does_not_read_is_refused(
    client: TestClient,
) -> None:
    headers = {**preflight(VITE), "Access-Control-Request-Headers": "X-Debug"}
    response = client.options(ORDERS, headers=headers)
    granted = client.options(
        ORDERS, headers={**preflight(VITE), "Access-Control-Request-Headers": ""}
    )
    assert response.status_code == 400
    assert "x-debug not allowed" in response.text
    assert "access-control-allow-origin" not in response.headers
    assert granted.status_code == 200
    assert "access-control-allow-headers" not in granted.headers


def test_preflight_grants_the_idempotency_key_header(client: TestClient) -> None:
    headers = {**preflight(VITE), "Access-Control-Request-Headers": "Idempotency-Key"}
    response = client.options(ORDERS, headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-headers"] == "idempotency-key"


def test_preflight_from_an_unlisted_origin_is_refused(base_url: str) -> None:
    response = httpx.options(f"{base_url}{ORDERS}", headers=preflight(STRANGER))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_cross_origin_request_carries_the_grant_only_for_listed_origins(
    base_url: str,
) -> None:
    url = f"{base_url}/api/v1/core/health"
    granted = http_get(url, headers={"Origin": "http://127.0.0.1:3000"})
    refused = http_get(url, headers={"Origin": STRANGER})
    assert granted.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    assert "Origin" in granted.headers["vary"]
    assert "access-control-allow-origin" not in refused.headers


def test_cors_origins_setting_replaces_the_dev_defaults() -> None:
    # No lifespan: preflights need none, and a second app's shutdown must not
    # close the databases the module's shared app is using.
    client = TestClient(build("https://charts.example.com/"))
    deployed = client.options(ORDERS, headers=preflight("https://charts.example.com"))
    dev = client.options(ORDERS, headers=preflight(VITE))
    assert deployed.headers["access-control-allow-origin"] == (
        "https://charts.example.com"
    )
    assert dev.status_code == 400


def test_cors_origins_is_read_from_the_environment_as_a_comma_list() -> None:
    settings = Settings.from_env({"CORS_ORIGINS": " https://a.example , http://b:81"})
    assert settings.cors_origins == ("https://a.example", "http://b:81")
    assert Settings.from_env({"CORS_ORIGINS": ""}).cors_origins == ()
    assert Settings.from_env({}).cors_origins == DEFAULT_CORS_ORIGINS


def test_a_cors_entry_that_is_not_an_origin_stops_the_build_naming_it() -> None:
    with pytest.raises(OriginError, match=r"'localhost:5173' is not an origin"):
        build("localhost:5173")


def test_the_app_publishes_its_origin_policy_for_other_checks() -> None:
    policy = build("https://charts.example.com").origin_policy
    assert policy.allows("https://charts.example.com")
    assert not policy.allows(VITE)


@pytest.mark.parametrize(
    ("path", "docs"),
    [
        ("/", "/api/v1/docs"),
        ("/api/v1", "/api/v1/docs"),
        ("/api/v1/", "/api/v1/docs"),
        ("/api/v1/broker/", "/api/v1/broker/docs"),
    ],
)
def test_bare_prefixes_redirect_to_the_docs(
    client: TestClient, path: str, docs: str
) -> None:
    response = client.get(path)
    assert response.status_code == 307
    assert response.headers["location"] == docs
    assert client.get(docs).status_code == 200


def test_redirects_follow_the_proxy_root_path(app: ModularFastAPI) -> None:
    client = TestClient(app, root_path="/trading", follow_redirects=False)
    response = client.get("/")
    assert response.headers["location"] == "/trading/api/v1/docs"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", f"{ORDERS}/ORDER-1", "DELETE, OPTIONS, PUT"),
        ("POST", f"{ORDERS}/ORDER-1", "DELETE, OPTIONS, PUT"),
        ("DELETE", ORDERS, "GET, OPTIONS, POST"),
        ("POST", "/api/v1/openapi.json", "GET, HEAD, OPTIONS"),
        ("PUT", f"{ORDERS}/preview", "OPTIONS, POST"),
    ],
)
def test_method_not_allowed_lists_every_method_of_the_path(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow


def test_plain_options_answers_the_methods_of_the_path(client: TestClient) -> None:
    response = client.options(f"{ORDERS}/ORDER-1")
    assert response.status_code == 204
    assert response.headers["allow"] == "DELETE, OPTIONS, PUT"


@pytest.mark.parametrize("spelling", ["take_profit", "takeProfit"])
def test_validation_error_names_the_field_as_the_wire_does(
    client: TestClient, spelling: str
) -> None:
    response = client.post(ORDERS, json={**MARKET_BUY, spelling: -5})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "takeProfit"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e309"])
def test_non_finite_number_is_a_422_naming_the_field(
    base_url: str, number: str
) -> None:
    body = json.dumps(MARKET_BUY).replace('"qty": 1', f'"qty": {number}')
    response = http_post(
        f"{base_url}{ORDERS}",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    [error] = json.loads(response.content.decode("utf-8"))["detail"]
    assert (error["loc"], error["type"]) == (["body", "qty"], "finite_number")


def test_invalid_utf8_body_is_a_documented_422(client: TestClient) -> None:
    response = client.post(
        ORDERS,
        content=b'{"symbol": "\xff\xfe"}',
        headers={"content-type": "application/json"},
    )
    document = client.get("/api/v1/broker/openapi.json").json()
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert "422" in document["paths"]["/orders"]["post"]["responses"]


def test_refused_input_with_a_lone_surrogate_is_echoed_as_valid_json(
    client: TestClient,
) -> None:
    response = client.post(
        ORDERS,
        content=b'{"symbol": "\\ud800", "type": 2, "side": 1, "qty": 1}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    [error] = json.loads(response.content.decode("utf-8", errors="strict"))["detail"]
    assert error["loc"] == ["body", "symbol"]


def test_asyncapi_servers_name_the_server_that_served_them(base_url: str) -> None:
    document = http_get(f"{base_url}/api/v1/datafeed/ws/asyncapi.json").json()
    [server] = document["servers"].values()
    url = f"{server['protocol']}://{server['host']}{server['pathname']}/ws"
    assert url == base_url.replace("http://", "ws://") + "/api/v1/datafeed/ws"
    asyncio.run(_ping(url))


def test_merged_asyncapi_servers_follow_the_host_scheme_and_proxy_prefix(
    app: ModularFastAPI,
) -> None:
    client = TestClient(app, base_url="https://trade.example.com", root_path="/trading")
    servers = client.get("/trading/api/v1/ws/asyncapi.json").json()["servers"]
    assert servers["broker"] == {
        "host": "trade.example.com",
        "protocol": "wss",
        "pathname": "/trading/api/v1/broker",
        "description": "The server that served this document.",
    }


async def _ping(url: str) -> None:
    async with websockets.connect(url, open_timeout=10) as socket:
        await socket.send(json.dumps({"type": "ping", "payload": {"n": 1}}))
        answer = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
    assert answer["type"] == "pong"


@pytest.mark.parametrize("depth", [5_000, 200])
def test_deeply_nested_body_is_a_documented_422_never_a_400_or_500(
    client: TestClient, depth: int
) -> None:
    body = b'{"symbols": ' + b"[" * depth + b"]" * depth + b"}"
    for path in ("/api/v1/datafeed/quotes", ORDERS):
        response = client.post(
            path, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, response.text[:200]
        [error, *_] = response.json()["detail"]
        assert error["loc"][0] == "body"
    if depth > 1_000:
        assert error["type"] == "json_invalid"
        assert "nested too deeply" in error["msg"]


def raw_request(base_url: str, head: str, chunks: Sequence[bytes] = ()) -> bytes:
    """Send a request by hand; stop sending as soon as the server answers."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        for chunk in chunks:
            if select.select([sock], [], [], 0.01)[0]:
                break
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = b""
        while not answer.endswith(b"}") and (part := sock.recv(65_536)):
            answer += part
    return answer


def test_announced_oversized_body_is_refused_413_before_it_is_sent(
    base_url: str,
) -> None:
    announced = DEFAULT_MAX_BODY_BYTES + 1
    answer = raw_request(
        base_url,
        f"POST {ORDERS} HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        f"Content-Length: {announced}\r\n\r\n",
    )
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 413")
    detail = json.loads(body)["detail"]
    assert f"larger than {DEFAULT_MAX_BODY_BYTES} bytes" in detail
    assert "MAX_BODY_BYTES" in detail
    assert http_get(f"{base_url}/api/v1/core/health").status_code == 200


def test_streamed_oversized_body_is_refused_once_it_passes_the_limit(
    base_url: str,
) -> None:
    chunk = b" " * 65_536
    chunks = [chunk] * (DEFAULT_MAX_BODY_BYTES // len(chunk) + 8)
    answer = raw_request(
        base_url,
        f"POST {ORDERS} HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
        chunks,
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_body_within_the_limit_is_served(client: TestClient) -> None:
    padded = json.dumps(MARKET_BUY).replace("{", "{" + " " * 100_000, 1)
    response = client.post(
        "/api/v1/broker/orders/preview",
        content=padded,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200


def test_the_body_limit_is_a_setting() -> None:
    small = Settings(max_body_bytes=100)
    client = TestClient(AppFactory(settings=small).create_app(["datafeed"]))
    response = client.post("/api/v1/datafeed/quotes", json={"symbols": ["A"] * 50})
    assert response.status_code == 413
    assert "larger than 100 bytes" in response.json()["detail"]
    assert Settings.from_env({"MAX_BODY_BYTES": "2048"}).max_body_bytes == 2048
    assert Settings.from_env({}).max_body_bytes == DEFAULT_MAX_BODY_BYTES
    with pytest.raises(SettingsError, match="MAX_BODY_BYTES must be at least 1"):
        Settings.from_env({"MAX_BODY_BYTES": "0"})


def test_every_operation_documents_the_413(client: TestClient) -> None:
    documents = [client.get("/api/v1/openapi.json").json()] + [
        client.get(f"/api/v1/{name}/openapi.json").json()
        for name in ("core", "broker", "datafeed")
    ]
    operations = 0
    for document in documents:
        for item in document["paths"].values():
            for operation in item.values():
                operations += 1
                too_large = operation["responses"]["413"]
                assert "MAX_BODY_BYTES" in too_large["description"]
                schema = too_large["content"]["application/json"]["schema"]
                if "$ref" in schema:
                    assert schema == {"$ref": "#/components/schemas/ErrorMessage"}
                    assert "ErrorMessage" in document["components"]["schemas"]
                else:
                    assert schema["required"] == ["detail"]
    assert operations >= 40


def test_a_get_with_an_oversized_body_is_refused_too(base_url: str) -> None:
    answer = raw_request(
        base_url,
        "GET /api/v1/core/health HTTP/1.1\r\nHost: api\r\n"
        f"Content-Length: {DEFAULT_MAX_BODY_BYTES + 1}\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413")
