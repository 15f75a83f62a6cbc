# The proxy's answer rewriting without servers: StreamGuard on hand-made SSE chunks and
# guard_completion on hand-made completions (partial blocks, text before calls, several
# choices, a stream that ends without a finish reason).
from __future__ import annotations

import json
from typing import Any

from microloop_host.proxy import History, StreamGuard, guard_completion

A = {"url": "https://shop.example/a"}
B = {"url": "https://docs.example/b"}


def history_with_a_twice() -> History:
    msgs: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    for i in range(2):
        msgs.append({"role": "assistant", "tool_calls": [
            {"id": f"h{i}", "type": "function",
             "function": {"name": "open_page", "arguments": json.dumps(A)}}]})
        msgs.append({"role": "tool", "tool_call_id": f"h{i}", "content": "CAPTCHA"})
    return History.from_messages(msgs)


def chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> str:
    return json.dumps({"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m",
                       "choices": [{"index": index, "delta": delta, "finish_reason": finish}]})


def tc_start(i: int, ident: str, args: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(args)
    return {"tool_calls": [{"index": i, "id": ident, "type": "function",
                            "function": {"name": "open_page", "arguments": text[:5]}}]}


def tc_more(i: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"tool_calls": [{"index": i, "function": {"arguments": json.dumps(args)[5:]}}]}


def run(sg: StreamGuard, payloads: list[str]) -> list[Any]:
    """Feed payloads; the events the client gets, decoded (raw passthrough kept as is)."""
    out: list[Any] = []
    for p in payloads:
        got = sg.feed(p)
        pieces = [b"data: " + p.encode() + b"\n\n"] if got is None else got
        for piece in pieces:
            body = piece.decode()[len("data: "):].strip()
            out.append(body if body == "[DONE]" else json.loads(body))
    return out


def test_partial_block_keeps_the_allowed_call_and_prefixes_text() -> None:
    sg = StreamGuard(history_with_a_twice(), "default")
    events = run(sg, [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Trying again."}),
        chunk(tc_start(0, "ca", A)), chunk(tc_more(0, A)),
        chunk(tc_start(1, "cb", B)), chunk(tc_more(1, B)),
        chunk({}, "tool_calls"), "[DONE]"])
    deltas = [e["choices"][0]["delta"] for e in events[:-1] if e["choices"]]
    # text first and untouched, then the notice, then the allowed call, renumbered to 0
    assert deltas[1] == {"content": "Trying again."}
    assert deltas[2]["content"].startswith("\n\n[microloop] BLOCKED") and "shop.example/a" in \
        deltas[2]["content"]
    assert deltas[3] == {"tool_calls": [{"index": 0, "id": "cb", "type": "function", "function": {
        "name": "open_page", "arguments": json.dumps(B)}}]}
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls" and events[-1] == "[DONE]"
    assert sg.blocked == [{"tool": "open_page", "id": "ca", "code": 1, "rule_index": -1,
                           "reason": sg.blocked[0]["reason"]}]
    # nothing carrying a tool call left before the check
    assert not any("tool_calls" in d for d in deltas[:3])


def test_stream_without_finish_is_flushed_checked_at_done() -> None:
    sg = StreamGuard(history_with_a_twice(), "default")
    events = run(sg, [chunk(tc_start(0, "c1", A)), chunk(tc_more(0, A)), "[DONE]"])
    assert events[0]["choices"][0]["delta"]["content"].startswith("[microloop] BLOCKED")
    assert events[1]["choices"][0]["finish_reason"] == "stop" and events[2] == "[DONE]"


def test_finish_in_the_same_chunk_and_two_choices() -> None:
    sg = StreamGuard(history_with_a_twice(), "default")
    both = json.dumps({"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m",
                       "choices": [
                           {"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c0",
                            "type": "function", "function": {"name": "open_page",
                                                             "arguments": json.dumps(A)}}]},
                            "finish_reason": "tool_calls"},
                           {"index": 1, "delta": {"tool_calls": [{"index": 0, "id": "c1",
                            "type": "function", "function": {"name": "open_page",
                                                             "arguments": json.dumps(B)}}]},
                            "finish_reason": "tool_calls"}]})
    events = run(sg, [both, "[DONE]"])
    by_choice: dict[int, list[dict[str, Any]]] = {}
    for e in events[:-1]:
        for c in e["choices"]:
            by_choice.setdefault(c["index"], []).append(c)
    assert "BLOCKED" in by_choice[0][0]["delta"]["content"]
    assert by_choice[0][-1]["finish_reason"] == "stop"
    assert by_choice[1][0]["delta"]["tool_calls"][0]["id"] == "c1"
    assert by_choice[1][-1]["finish_reason"] == "tool_calls"


def test_text_only_and_unknown_events_pass_unchanged() -> None:
    sg = StreamGuard(history_with_a_twice(), "default")
    for p in [chunk({"content": "hello"}), chunk({}, "stop"), '{"weird": 1}', "not json"]:
        assert sg.feed(p) is None


def test_non_stream_partial_block() -> None:
    data = {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [
            {"id": "ca", "type": "function", "function": {"name": "open_page",
                                                          "arguments": json.dumps(A)}},
            {"id": "cb", "type": "function", "function": {"name": "open_page",
                                                          "arguments": json.dumps(B)}}]}}]}
    report = guard_completion(data, history_with_a_twice(), "default")
    msg = data["choices"][0]["message"]
    assert [tc["id"] for tc in msg["tool_calls"]] == ["cb"]
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    assert msg["content"].startswith("[microloop] BLOCKED") and report[0]["id"] == "ca"
