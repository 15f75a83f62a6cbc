# The guarding proxy end to end: the real `openai` client -> microloop proxy -> a scripted
# OpenAI-compatible upstream, both servers started on 127.0.0.1 by these fixtures and stopped
# by them. Loop blocked, benign runs untouched (compared with the upstream called directly),
# streaming, upstream errors and timeouts, malformed requests, pass-through routes, and 50
# concurrent clients.
from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from microloop_host.fake_upstream import CAPTCHA_URL, ServerThread
from microloop_host.fake_upstream import create_app as upstream_app
from microloop_host.proxy import (
    History,
    ProxyConfig,
    build_parser,
    call_bytes_raw,
    create_app,
    main,
)
from microloop_mpy import BUDGET_EXHAUSTED, CYCLE, IDENTICAL, reason

PROXY_TIMEOUT = 2.0  # the proxy's upstream timeout in these tests (scripted-slow waits 4 s)
MAX_TURNS = 10  # every agent loop below stops by itself within this many model turns
TOOLS = [{"type": "function", "function": {
    "name": "open_page", "description": "Open a web page.",
    "parameters": {"type": "object", "properties": {"url": {"type": "string"}},
                   "required": ["url"]}}}]


def open_page(url: str) -> str:
    return "Please verify you are a human (CAPTCHA)" if "shop." in url else f"text of {url}"


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with ServerThread(upstream_app(slow_s=4.0)) as srv:
        yield srv.url + "/v1"


@pytest.fixture(scope="module")
def proxy(upstream: str) -> Iterator[str]:
    app = create_app(ProxyConfig(upstream=upstream, policy="default", timeout=PROXY_TIMEOUT))
    with ServerThread(app) as srv:
        yield srv.url + "/v1"


def client_for(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0, timeout=20)


def stream_message(stream: Any) -> tuple[dict[str, Any], str | None, list[str]]:
    """Accumulate a streamed answer the way agent frameworks do: (message, finish, texts)."""
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for chunk in stream:
        for ch in chunk.choices:
            if ch.delta.content:
                text.append(ch.delta.content)
            for tc in ch.delta.tool_calls or []:
                c = calls.setdefault(tc.index, {"id": None, "type": "function",
                                                "function": {"name": "", "arguments": ""}})
                c["id"] = tc.id or c["id"]
                if tc.function and tc.function.name:
                    c["function"]["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    c["function"]["arguments"] += tc.function.arguments
            finish = ch.finish_reason or finish
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        msg["tool_calls"] = [calls[i] for i in sorted(calls)]
    return msg, finish, text


def run_agent(client: openai.OpenAI, model: str, stream: bool = False) -> dict[str, Any]:
    """A plain agent loop: ask, run the tool calls, send the results, until a text answer."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    executed: list[str] = []
    answers: list[dict[str, Any]] = []
    for _ in range(MAX_TURNS):
        if stream:
            msg, finish, _ = stream_message(client.chat.completions.create(
                model=model, messages=messages, tools=TOOLS, stream=True))
        else:
            resp = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
            msg = resp.choices[0].message.model_dump(exclude_none=True)
            finish = resp.choices[0].finish_reason
        answers.append({"message": msg, "finish": finish})
        messages.append(msg)
        if not msg.get("tool_calls"):
            break
        for tc in msg["tool_calls"]:
            url = json.loads(tc["function"]["arguments"])["url"]
            executed.append(url)
            messages.append({"role": "tool", "tool_call_id": tc["id"], "content": open_page(url)})
    return {"executed": executed, "answers": answers, "final": answers[-1]}


@pytest.mark.parametrize("stream", [False, True])
def test_loop_is_blocked_and_turned_into_text(proxy: str, stream: bool) -> None:
    run = run_agent(client_for(proxy), "scripted-loop", stream=stream)
    assert run["executed"] == [CAPTCHA_URL] * 2  # the third identical call never ran
    final = run["final"]
    assert final["finish"] == "stop" and "tool_calls" not in final["message"]
    text = final["message"]["content"]
    assert text.startswith("[microloop] BLOCKED") and "open_page" in text
    assert reason(IDENTICAL) in text and CAPTCHA_URL in text


def test_cycle_is_blocked_statelessly(proxy: str) -> None:
    # a, b, a, b, a, b: each request rebuilds the history from its own messages
    run = run_agent(client_for(proxy), "scripted-cycle")
    assert len(run["executed"]) == 5 and reason(CYCLE) in run["final"]["message"]["content"]


def test_block_details_in_body_and_header(proxy: str) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    for i in range(2):
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {
                "name": "open_page", "arguments": json.dumps({"url": CAPTCHA_URL})}}]})
        messages.append({"role": "tool", "tool_call_id": f"c{i}",
                         "content": open_page(CAPTCHA_URL)})
    raw = client_for(proxy).chat.completions.with_raw_response.create(
        model="scripted-loop", messages=messages, tools=TOOLS)
    assert raw.headers["x-microloop-blocked"] == "1"
    body = raw.parse()
    assert body.model_extra["microloop"]["blocked"][0] == {
        "tool": "open_page", "id": "call_2", "code": 1,
        "reason": reason(IDENTICAL),
        "rule_index": -1}
    # the same history whose results differ each time is a busy agent, not a loop
    for i, m in enumerate(m for m in messages if m["role"] == "tool"):
        m["content"] = f"page version {i}"
    ok = client_for(proxy).chat.completions.create(model="scripted-loop", messages=messages)
    assert ok.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("model", ["scripted-benign", "scripted-parallel"])
@pytest.mark.parametrize("stream", [False, True])
def test_benign_runs_are_untouched(proxy: str, upstream: str, model: str, stream: bool) -> None:
    via_proxy = run_agent(client_for(proxy), model, stream=stream)
    direct = run_agent(client_for(upstream), model, stream=stream)
    assert via_proxy["answers"] == direct["answers"]
    assert via_proxy["executed"] == direct["executed"]
    assert len(set(direct["executed"])) == len(direct["executed"]) >= 5
    assert via_proxy["final"]["message"]["content"].startswith("Done after")


def test_benign_answer_is_the_upstreams_bytes_and_headers(proxy: str, upstream: str) -> None:
    body = {"model": "scripted-benign", "messages": [{"role": "user", "content": "go"}]}
    via = httpx.post(proxy + "/chat/completions", json=body, timeout=10)
    direct = httpx.post(upstream + "/chat/completions", json=body, timeout=10)
    assert via.status_code == 200 and via.headers["x-microloop-blocked"] == "0"
    assert via.headers["x-scripted-request"] == direct.headers["x-scripted-request"] == "chat"
    strip = [b'"created":' + str(json.loads(r.content)["created"]).encode() for r in (via, direct)]
    assert via.content.replace(strip[0], b"") == direct.content.replace(strip[1], b"")


def test_text_streams_through_chunk_by_chunk(proxy: str, upstream: str) -> None:
    def pieces(base: str) -> list[str]:
        stream = client_for(base).chat.completions.create(
            model="scripted-text", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True})
        return stream_message(stream)[2]

    assert pieces(proxy) == pieces(upstream) == ["Done", " after", " 0", " tool", " results.",
                                                 " All", " good."]


def test_upstream_errors_are_clear_openai_errors(proxy: str) -> None:
    c = client_for(proxy)
    msgs = [{"role": "user", "content": "go"}]
    with pytest.raises(openai.InternalServerError) as e500:
        c.chat.completions.create(model="scripted-error-500", messages=msgs)
    assert e500.value.status_code == 500 and "scripted upstream failure" in str(e500.value)
    with pytest.raises(openai.APIStatusError) as e503:
        c.chat.completions.create(model="scripted-error-text", messages=msgs, stream=True)
    assert e503.value.status_code == 503 and "Service Unavailable" in str(e503.value)
    with pytest.raises(openai.APIStatusError) as bad:
        c.chat.completions.create(model="scripted-garbage", messages=msgs)
    assert bad.value.status_code == 502 and bad.value.body["code"] == "bad_upstream_response"
    with pytest.raises(openai.APIStatusError) as slow:
        c.chat.completions.create(model="scripted-slow", messages=msgs)
    assert slow.value.status_code == 504 and slow.value.body["code"] == "upstream_timeout"
    with pytest.raises(openai.APIError) as broken:
        stream_message(c.chat.completions.create(model="scripted-broken-stream",
                                                 messages=msgs, stream=True))
    assert "stream broke" in str(broken.value)


def test_unreachable_upstream_is_a_502() -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    app = create_app(ProxyConfig(upstream=f"http://127.0.0.1:{dead}/v1", timeout=2.0))
    with ServerThread(app) as srv:
        with pytest.raises(openai.APIStatusError) as info:
            client_for(srv.url + "/v1").chat.completions.create(
                model="x", messages=[{"role": "user", "content": "go"}])
    assert info.value.status_code == 502 and info.value.body["code"] == "upstream_unreachable"


@pytest.mark.parametrize("body, param", [
    (b"{not json", None),
    (b"[1, 2]", None),
    (b'{"model": "m"}', "messages"),
    (b'{"model": "m", "messages": "hi"}', "messages"),
    (b'{"model": "m", "messages": []}', "messages"),
    (b'{"model": "m", "messages": [{"content": "no role"}]}', "messages"),
    (b'{"model": "m", "messages": [{"role": "assistant", "tool_calls": {"a": 1}}]}', "messages"),
    (b'{"model": "m", "messages": [{"role": "assistant", "tool_calls": [7]}]}', "messages"),
])
def test_malformed_requests_are_400(proxy: str, body: bytes, param: str | None) -> None:
    r = httpx.post(proxy + "/chat/completions", content=body,
                   headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param and err["message"]
    assert httpx.get(proxy.removesuffix("/v1") + "/healthz", timeout=10).status_code == 200


def test_other_routes_pass_through(proxy: str) -> None:
    c = client_for(proxy)
    assert "scripted-loop" in [m.id for m in c.models.list()]
    r = httpx.post(proxy + "/embeddings?trace=1", json={"model": "e", "input": ["ab", "c"]},
                   timeout=10)
    assert r.status_code == 200 and r.headers["x-scripted-query"] == "trace=1"
    assert [d["embedding"][0] for d in r.json()["data"]] == [2.0, 1.0]


def test_history_replay_matches_parallel_results_by_id() -> None:
    # two parallel calls answered in reverse order; then the same pair again, same results
    def turn(i: int) -> list[dict[str, Any]]:
        return [{"role": "assistant", "tool_calls": [
                    {"id": f"a{i}", "function": {"name": "get", "arguments": '{"k": "a"}'}},
                    {"id": f"b{i}", "function": {"name": "get", "arguments": '{ "k":"b" }'}}]},
                {"role": "tool", "tool_call_id": f"b{i}", "content": "B"},
                {"role": "tool", "tool_call_id": f"a{i}", "content": "A"}]

    msgs = [{"role": "user", "content": "go"}] + turn(0) + turn(1)
    g = History.from_messages(msgs).replay("default")
    assert g.check_bytes(call_bytes_raw("get", '{"k":"a"}')).allowed  # 5th entry of a 2-cycle
    assert g.check_bytes(call_bytes_raw("get", '{"k":"b"}')).code == 3  # 6th: CYCLE
    # arguments that are not a JSON object are refused, never crash
    assert History.from_messages(msgs).replay(None).check_bytes(
        call_bytes_raw("get", "{oops")).code != 0


def test_fifty_concurrent_clients(proxy: str) -> None:
    models = ["scripted-loop", "scripted-benign", "scripted-parallel", "scripted-cycle"]

    async def agent(c: openai.AsyncOpenAI, k: int) -> tuple[str, int, str]:
        model, stream = models[k % 4], bool(k % 3 == 0)
        messages: list[dict[str, Any]] = [{"role": "user", "content": f"client {k}"}]
        executed = 0
        for _ in range(MAX_TURNS):
            if stream:
                text, calls = [], {}
                async for chunk in await c.chat.completions.create(
                        model=model, messages=messages, tools=TOOLS, stream=True):
                    for ch in chunk.choices:
                        text.append(ch.delta.content or "")
                        for tc in ch.delta.tool_calls or []:
                            d = calls.setdefault(tc.index, {"id": tc.id, "type": "function",
                                                            "function": {"name": "",
                                                                         "arguments": ""}})
                            d["function"]["name"] += tc.function.name or ""
                            d["function"]["arguments"] += tc.function.arguments or ""
                msg: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
                if calls:
                    msg["tool_calls"] = [calls[i] for i in sorted(calls)]
            else:
                resp = await c.chat.completions.create(model=model, messages=messages,
                                                       tools=TOOLS)
                msg = resp.choices[0].message.model_dump(exclude_none=True)
            messages.append(msg)
            if not msg.get("tool_calls"):
                return model, executed, msg["content"]
            for tc in msg["tool_calls"]:
                executed += 1
                url = json.loads(tc["function"]["arguments"])["url"]
                messages.append({"role": "tool", "tool_call_id": tc["id"],
                                 "content": open_page(url)})
        return model, executed, "bound reached"

    async def main_() -> list[tuple[str, int, str]]:
        limits = httpx.Limits(max_connections=100)
        async with openai.AsyncOpenAI(base_url=proxy, api_key="sk-test", max_retries=0,
                                      timeout=30,
                                      http_client=openai.DefaultAsyncHttpxClient(
                                          limits=limits)) as c:
            return await asyncio.wait_for(asyncio.gather(*(agent(c, k) for k in range(50))), 90)

    results = asyncio.run(main_())
    expected = {"scripted-loop": (2, reason(IDENTICAL)), "scripted-cycle": (5, reason(CYCLE)),
                "scripted-benign": (5, "Done after 5"), "scripted-parallel": (6, "Done after 6")}
    for model, executed, text in results:
        n, words = expected[model]
        assert executed == n and words in text, (model, executed, text)


def test_rules_and_per_conversation_budgets(upstream: str) -> None:
    # a count rule is a per-conversation budget in the proxy: the conversation's own calls
    # spend it on every replay; the third page is refused by the rule, not by loop detection
    policy = {"rules": [{"tool": "open_page", "count": 2}]}
    with ServerThread(create_app(ProxyConfig(upstream=upstream, policy=policy))) as srv:
        run = run_agent(client_for(srv.url + "/v1"), "scripted-benign")
    assert len(run["executed"]) == 2
    assert reason(BUDGET_EXHAUSTED) in run["final"]["message"]["content"]
    assert "policy rule #0" in run["final"]["message"]["content"]
    for bad, key in (({"state_path": "/tmp/x.bin"}, "state_path"),
                     ({"rules": [{"tool": "*", "count": 5, "per_s": 60}]}, "per_s")):
        with pytest.raises(ValueError, match=key):
            create_app(ProxyConfig(upstream=upstream, policy=bad))


def test_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROLOOP_UPSTREAM", "http://127.0.0.1:9/v1")
    args = build_parser().parse_args([])
    assert (args.upstream, args.host, args.port) == ("http://127.0.0.1:9/v1", "127.0.0.1", 20128)
    assert build_parser().parse_args(["--upstream", "http://u/v1"]).upstream == "http://u/v1"
    monkeypatch.delenv("MICROLOOP_UPSTREAM")
    assert main([]) == 2  # no upstream
    assert main(["--upstream", "http://127.0.0.1:9/v1", "--policy", "nope"]) == 2
    out = subprocess.run([sys.executable, "-m", "microloop_host.proxy", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--upstream" in out.stdout and "20128" in out.stdout
