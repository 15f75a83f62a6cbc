# A scripted OpenAI-compatible model server for tests, benchmarks and the README's offline
# demo of the proxy: no model, no network. The `model` name picks a script; the answer is a
# function of the request's messages only (stateless, like a real model behind an API).
# It must never be exposed beyond loopback: it exists to be driven by a test.
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from microloop_host.extras import requires

with requires("proxy", "microloop_host.fake_upstream", "starlette"):
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import (
        JSONResponse,
        PlainTextResponse,
        Response,
        StreamingResponse,
    )
    from starlette.routing import Route

CAPTCHA_URL = "https://shop.example/item/7"
SCRIPTS = {
    "scripted-loop": "re-opens the same page on every turn, forever",
    "scripted-benign": "opens five different pages, then answers in text",
    "scripted-parallel": "asks for two pages at once per turn (three rounds), then answers",
    "scripted-cycle": "alternates between two pages forever",
    "scripted-text": "answers in text only",
    "scripted-error-500": "HTTP 500 with an OpenAI-style error",
    "scripted-error-text": "HTTP 503 with a plain-text body",
    "scripted-garbage": "HTTP 200 with a body that is not JSON",
    "scripted-slow": "waits `slow_s` seconds (default 5) before answering",
    "scripted-broken-stream": "streams one chunk, then drops the connection",
}


def _turn(messages: list[dict[str, Any]]) -> int:
    return sum(1 for m in messages if m.get("role") == "assistant")


def _call(name: str, args: dict[str, Any], ident: str) -> dict[str, Any]:
    return {"id": ident, "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)}}


def script_message(model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant message the scripted model answers with."""
    n = _turn(messages)
    if model == "scripted-loop":
        return {"role": "assistant", "content": None,
                "tool_calls": [_call("open_page", {"url": CAPTCHA_URL}, f"call_{n}")]}
    if model == "scripted-cycle":
        url = f"https://shop.example/{'ab'[n % 2]}"
        return {"role": "assistant", "content": None,
                "tool_calls": [_call("open_page", {"url": url}, f"call_{n}")]}
    if model == "scripted-benign" and n < 5:
        return {"role": "assistant", "content": None,
                "tool_calls": [_call("open_page", {"url": f"https://docs.example/p{n}"},
                                     f"call_{n}")]}
    if model == "scripted-parallel" and n < 3:
        return {"role": "assistant", "content": None, "tool_calls": [
            _call("open_page", {"url": f"https://docs.example/r{n}/a"}, f"call_{n}_a"),
            _call("open_page", {"url": f"https://docs.example/r{n}/b"}, f"call_{n}_b")]}
    tools = sum(1 for m in messages if m.get("role") == "tool")
    return {"role": "assistant", "content": f"Done after {tools} tool results. All good."}


def completion(model: str, message: dict[str, Any]) -> dict[str, Any]:
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return {"id": "chatcmpl-scripted", "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": "fp_scripted",
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


def chunks(model: str, message: dict[str, Any], usage: bool) -> list[dict[str, Any]]:
    """The message as streamed chunks: text word by word, tool-call arguments in pieces."""
    base = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model, "system_fingerprint": "fp_scripted"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                     "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    text = message.get("content") or ""
    for i, word in enumerate(text.split(" ")):
        out.append(chunk({"content": word if i == 0 else " " + word}))
    for i, tc in enumerate(message.get("tool_calls") or []):
        out.append(chunk({"tool_calls": [{"index": i, "id": tc["id"], "type": "function",
                                          "function": {"name": tc["function"]["name"],
                                                       "arguments": ""}}]}))
        args = tc["function"]["arguments"]
        for k in range(0, len(args), 7):
            out.append(chunk({"tool_calls": [{"index": i,
                                              "function": {"arguments": args[k:k + 7]}}]}))
    out.append(chunk({}, "tool_calls" if message.get("tool_calls") else "stop"))
    if usage:
        out.append({**base, "choices": [], "usage": {"prompt_tokens": 10,
                                                     "completion_tokens": 5,
                                                     "total_tokens": 15}})
    return out


def create_app(slow_s: float = 5.0) -> Starlette:
    async def chat(request: Request) -> Response:
        body = await request.json()
        model = str(body.get("model", ""))
        messages = body.get("messages") or []
        if model == "scripted-error-500":
            return JSONResponse({"error": {"message": "scripted upstream failure",
                                           "type": "server_error", "param": None,
                                           "code": "scripted"}}, status_code=500)
        if model == "scripted-error-text":
            return PlainTextResponse("Service Unavailable (scripted)", status_code=503)
        if model == "scripted-garbage":
            return PlainTextResponse("<html>not json</html>", status_code=200)
        if model == "scripted-slow":
            await asyncio.sleep(slow_s)
        message = script_message(model, messages)
        if not body.get("stream"):
            return JSONResponse(completion(model, message),
                                headers={"x-scripted-request": "chat"})
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        parts = chunks(model, message, usage)

        async def events() -> AsyncIterator[bytes]:
            for i, c in enumerate(parts):
                yield b"data: " + json.dumps(c).encode() + b"\n\n"
                if model == "scripted-broken-stream" and i == 1:
                    raise ConnectionResetError("scripted: connection dropped mid-stream")
                await asyncio.sleep(0)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "microloop"}
            for m in SCRIPTS]})

    async def embeddings(request: Request) -> Response:
        body = await request.json()
        inputs = body.get("input")
        inputs = inputs if isinstance(inputs, list) else [inputs]
        return JSONResponse({"object": "list", "model": body.get("model"), "data": [
            {"object": "embedding", "index": i, "embedding": [float(len(str(x))), 0.5]}
            for i, x in enumerate(inputs)],
            "usage": {"prompt_tokens": 1, "total_tokens": 1}},
            headers={"x-scripted-query": request.url.query})

    return Starlette(routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
    ])


class ServerThread:
    """Runs an ASGI app with uvicorn on 127.0.0.1 in a background thread (port 0: a free
    one), for tests and benchmarks: `with ServerThread(app) as srv: srv.url`."""

    def __init__(self, app: Any, port: int = 0, start_timeout: float = 15.0) -> None:
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                lifespan="on", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.start_timeout = start_timeout
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.server.should_exit = True
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m microloop_host.fake_upstream",
                                description="Scripted OpenAI-compatible model server "
                                            "(models: " + ", ".join(SCRIPTS) + ")")
    p.add_argument("--port", type=int, default=20129)
    p.add_argument("--slow-s", type=float, default=5.0)
    args = p.parse_args(argv)
    import uvicorn

    uvicorn.run(create_app(args.slow_s), host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
