# The guarding proxy: an OpenAI-compatible HTTP server (`microloop proxy`) between an agent and
# its model. For /v1/chat/completions it rebuilds the tool-call history from the request's own
# messages into a fresh guard (stateless: any number of clients, any order), checks every tool
# call in the model's answer, and replaces a blocked one with assistant text carrying the
# reason, so the agent never executes it and the model reads why on its next turn. Every other
# /v1/* route passes through untouched.
# It must never release a tool call it has not checked (streaming included), never crash on a
# bad request (400) or a bad upstream (502/504), and never keep state between requests.
from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from microloop_host.canonical import dumps, result_bytes
from microloop_host.extras import requires
from microloop_host.guardrail import Guardrail, Verdict, blocked_message
from microloop_host.policy import load_policy

with requires("proxy", "microloop_host.proxy", "httpx", "starlette"):
    import httpx
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

log = logging.getLogger("microloop.proxy")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 20128
UPSTREAM_ENV = "MICROLOOP_UPSTREAM"
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "host", "content-length",
})
ARGS_PREVIEW = 200  # characters of a blocked call's arguments quoted back to the model


@dataclass
class ProxyConfig:
    upstream: str  # base URL as given to an OpenAI client, e.g. https://api.openai.com/v1
    policy: Any = "default"  # preset name, path, dict or None
    timeout: float = 300.0  # seconds to wait for the upstream (read); connect: 10 s
    connect_timeout: float = 10.0
    max_connections: int = 512  # to the upstream, over all pool shards
    pool_shards: int = 8  # httpx clients used in turn (see create_app)
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)  # tests


# -- errors -------------------------------------------------------------------------------
def error_response(status: int, message: str, type_: str, code: str | None = None,
                   param: str | None = None) -> JSONResponse:
    """An error in the shape the OpenAI API (and its clients) use."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _upstream_failure(exc: httpx.HTTPError, upstream: str) -> JSONResponse:
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return error_response(504, f"microloop proxy: the upstream {upstream} did not answer "
                              f"in time ({type(exc).__name__})", "upstream_error",
                              "upstream_timeout")
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return error_response(502, f"microloop proxy: cannot reach the upstream {upstream}: "
                              f"{exc}", "upstream_error", "upstream_unreachable")
    return error_response(502, f"microloop proxy: the upstream {upstream} failed: "
                          f"{type(exc).__name__}: {exc}", "upstream_error", "upstream_failed")


def _passthrough_error(status: int, body: bytes, upstream: str) -> Response:
    # an upstream error answer: pass it on as is when it is already an OpenAI-style error
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), (dict, str)):
        return JSONResponse(data, status_code=status)
    text = body.decode("utf-8", "replace").strip()[:500]
    return error_response(status, f"upstream {upstream} answered HTTP {status}: {text}",
                          "upstream_error", f"upstream_http_{status}")


# -- the request's tool-call history ------------------------------------------------------
def call_bytes_raw(name: Any, arguments: Any) -> bytes:
    """The bytes of one OpenAI tool call for the core, using the model's argument text as is
    (the core compares JSON values: key order and whitespace do not matter). Arguments that
    are not a JSON object are kept as a JSON string, which the core refuses as BAD_ARGS."""
    tool = dumps(name if isinstance(name, str) else "").encode("utf-8", "backslashreplace")
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        args = b"{}"
    elif isinstance(arguments, str):
        try:
            ok = isinstance(json.loads(arguments), dict)
        except ValueError:
            ok = False
        args = (arguments if ok else dumps(arguments)).encode("utf-8", "backslashreplace")
    elif isinstance(arguments, dict):
        args = dumps(arguments).encode("utf-8", "backslashreplace")
    else:
        args = dumps(str(arguments)).encode("utf-8", "backslashreplace")
    return b'{"tool":' + tool + b',"args":' + args + b"}"


def _text_of(content: Any) -> bytes:
    # a tool message's content: a string, or a list of parts ({"type": "text", "text": ...})
    if isinstance(content, list):
        parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content]
        if all(isinstance(p, str) for p in parts):
            return "".join(parts).encode("utf-8", "backslashreplace")
    return result_bytes(content)


@dataclass
class Call:
    id: Any
    name: str
    arguments: Any
    buf: bytes


def _calls_of(message: Mapping[str, Any]) -> list[Call]:
    """The tool calls of one assistant message (tool_calls, or the legacy function_call)."""
    out = []
    tool_calls = message.get("tool_calls")
    if tool_calls is not None and not isinstance(tool_calls, list):
        raise BadRequest("'tool_calls' must be a list", "messages")
    for tc in tool_calls or []:
        if not isinstance(tc, dict):
            raise BadRequest("each tool call must be an object", "messages")
        fn = tc.get("function")
        fn = fn if isinstance(fn, dict) else {}
        name = fn.get("name")
        out.append(Call(tc.get("id"), name if isinstance(name, str) else "",
                        fn.get("arguments"), call_bytes_raw(name, fn.get("arguments"))))
    fc = message.get("function_call")
    if isinstance(fc, dict):
        name = fc.get("name")
        out.append(Call("__function_call__", name if isinstance(name, str) else "",
                        fc.get("arguments"), call_bytes_raw(name, fc.get("arguments"))))
    return out


@dataclass
class History:
    """The tool calls and results in a request's messages, in order, ready to replay."""

    steps: list[tuple[str, Any, bytes]]  # ("call", id, buf) or ("result", id, bytes)

    @classmethod
    def from_messages(cls, messages: Any) -> History:
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty list", "messages")
        steps: list[tuple[str, Any, bytes]] = []
        for m in messages:
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise BadRequest("each message must be an object with a string 'role'",
                                 "messages")
            role = m["role"]
            if role == "assistant":
                steps.extend(("call", c.id, c.buf) for c in _calls_of(m))
            elif role == "tool":
                steps.append(("result", m.get("tool_call_id"), _text_of(m.get("content"))))
            elif role == "function":  # legacy function result
                steps.append(("result", "__function_call__", _text_of(m.get("content"))))
        return cls(steps)

    def replay(self, policy: Any) -> Guardrail:
        """A fresh guard that has seen this history: every call checked in order, every
        result reported for its call (by entry: parallel calls are answered later)."""
        g = Guardrail(policy)
        pending: dict[Any, Verdict] = {}
        for kind, ident, data in self.steps:
            if kind == "call":
                v = g.check_bytes(data)
                if ident is not None:
                    pending[ident] = v
            else:
                v = pending.pop(ident, None)
                if v is not None:
                    # OpenAI messages carry no failure flag: a tool result is a result (ok)
                    g.report(v, True, data)
        return g


def _notice(blocked: Iterable[tuple[Call, Verdict]]) -> str:
    lines = []
    for call, v in blocked:
        args = call.arguments if isinstance(call.arguments, str) else dumps(call.arguments)
        if len(args) > ARGS_PREVIEW:
            args = args[:ARGS_PREVIEW] + "..."
        lines.append(f"[microloop] {blocked_message(v)} Its arguments were: {args}")
    return "\n".join(lines)


def _blocked_info(blocked: Iterable[tuple[Call, Verdict]]) -> list[dict[str, Any]]:
    return [{"tool": c.name, "id": c.id, "code": v.code, "reason": v.reason,
             "rule_index": v.rule_index} for c, v in blocked]


def judge(guard: Guardrail, calls: list[Call]) -> tuple[list[Call], list[tuple[Call, Verdict]]]:
    """Check the answer's calls in order: (allowed calls, blocked calls with verdicts)."""
    kept, blocked = [], []
    for c in calls:
        v = guard.check_bytes(c.buf, c.name)
        if v.allowed:
            kept.append(c)
        else:
            blocked.append((c, v))
            log.info("blocked tool call %s (%s): %s", c.name, c.id, v.reason)
    return kept, blocked


# -- non-streaming answers ----------------------------------------------------------------
def guard_completion(data: dict[str, Any], history: History, policy: Any) -> list[dict]:
    """Rewrite a chat.completion in place: blocked tool calls out, their reason in."""
    report: list[dict] = []
    choices = data.get("choices")
    if not isinstance(choices, list):
        return report
    for choice in choices:
        msg = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(msg, dict):
            continue
        calls = _calls_of(msg)
        if not calls:
            continue
        kept, blocked = judge(history.replay(policy), calls)
        if not blocked:
            continue
        text = msg.get("content") if isinstance(msg.get("content"), str) else ""
        msg["content"] = (text + "\n\n" if text else "") + _notice(blocked)
        # _calls_of lists tool_calls in order, then function_call: keep the allowed ones
        allowed = {id(c) for c in kept}
        tool_calls = msg.get("tool_calls") or []
        kept_tc = [tc for tc, c in zip(tool_calls, calls) if id(c) in allowed]
        if msg.get("function_call") is not None and id(calls[-1]) not in allowed:
            msg.pop("function_call")
        if kept_tc:
            msg["tool_calls"] = kept_tc
            choice["finish_reason"] = "tool_calls"
        else:
            msg.pop("tool_calls", None)
            choice["finish_reason"] = "function_call" if msg.get("function_call") else "stop"
        report.extend(_blocked_info(blocked))
    return report


# -- streaming answers --------------------------------------------------------------------
@dataclass
class _ToolDelta:
    id: Any = None
    type: str = "function"
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _ChoiceState:
    calls: dict[int, _ToolDelta] = field(default_factory=dict)
    function_call: _ToolDelta | None = None
    text_seen: bool = False
    done: bool = False


def _sse(obj: Any) -> bytes:
    return b"data: " + dumps(obj).encode("utf-8") + b"\n\n"


class StreamGuard:
    """Filters one upstream SSE stream: text passes at once, tool-call deltas are held per
    choice until the choice finishes, then checked and released (or replaced by text)."""

    def __init__(self, history: History, policy: Any) -> None:
        self.history = history
        self.policy = policy
        self.choices: dict[int, _ChoiceState] = {}
        self.template: dict[str, Any] = {}
        self.blocked: list[dict] = []

    def _chunk(self, index: int, delta: dict[str, Any], finish: Any = None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        base = {k: v for k, v in self.template.items() if k not in ("choices", "usage")}
        base.setdefault("object", "chat.completion.chunk")
        base["choices"] = [{"index": index, "delta": delta, "logprobs": None,
                            "finish_reason": finish}]
        if extra:
            base.update(extra)
        return base

    def _release(self, index: int, st: _ChoiceState, finish: Any) -> list[bytes]:
        """Check a finished choice's held calls; the chunks that replace them."""
        st.done = True
        calls = [Call(d.id, d.name, "".join(d.arguments),
                      call_bytes_raw(d.name, "".join(d.arguments)))
                 for _, d in sorted(st.calls.items())]
        if st.function_call is not None:
            d = st.function_call
            calls.append(Call("__function_call__", d.name, "".join(d.arguments),
                              call_bytes_raw(d.name, "".join(d.arguments))))
        if not calls:
            return []
        kept, blocked = judge(self.history.replay(self.policy), calls)
        out = []
        if blocked:
            info = _blocked_info(blocked)
            self.blocked.extend(info)
            text = ("\n\n" if st.text_seen else "") + _notice(blocked)
            out.append(_sse(self._chunk(index, {"content": text},
                                        extra={"microloop": {"blocked": info}})))
        tool_calls = [{"index": i, "id": c.id, "type": "function",
                       "function": {"name": c.name, "arguments": c.arguments}}
                      for i, c in enumerate(c for c in kept if c.id != "__function_call__")]
        if tool_calls:
            out.append(_sse(self._chunk(index, {"tool_calls": tool_calls})))
        fc = [c for c in kept if c.id == "__function_call__"]
        if fc:
            out.append(_sse(self._chunk(index, {"function_call": {
                "name": fc[0].name, "arguments": fc[0].arguments}})))
        if finish is not None or blocked:
            if blocked and not kept:
                finish = "stop"
            elif kept and finish in (None, "stop"):
                finish = "tool_calls" if tool_calls else "function_call"
            out.append(_sse(self._chunk(index, {}, finish)))
        return out

    def feed(self, data: str) -> list[bytes] | None:
        """One SSE data payload: the bytes to send instead, or None to send it unchanged."""
        if data.strip() == "[DONE]":
            return self.flush() + [b"data: [DONE]\n\n"]
        try:
            chunk = json.loads(data)
        except ValueError:
            return None
        if not isinstance(chunk, dict) or not isinstance(chunk.get("choices"), list):
            return None
        if not self.template:
            self.template = chunk
        changed = False
        after: list[bytes] = []
        for choice in chunk["choices"]:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            st = self.choices.setdefault(index, _ChoiceState())
            delta = choice.get("delta")
            if isinstance(delta, dict):
                if delta.get("content"):
                    st.text_seen = True
                tcs = delta.pop("tool_calls", None)
                fc = delta.pop("function_call", None)
                if tcs is not None or fc is not None:
                    changed = True
                for tc in tcs if isinstance(tcs, list) else []:
                    if not isinstance(tc, dict):
                        continue
                    d = st.calls.setdefault(tc.get("index", len(st.calls)), _ToolDelta())
                    d.id = tc.get("id") or d.id
                    d.type = tc.get("type") or d.type
                    fn = tc.get("function") if isinstance(tc.get("function"), dict) else {}
                    d.name += fn.get("name") or ""
                    d.arguments.append(fn.get("arguments") or "")
                if isinstance(fc, dict):
                    st.function_call = st.function_call or _ToolDelta(id="__function_call__")
                    st.function_call.name += fc.get("name") or ""
                    st.function_call.arguments.append(fc.get("arguments") or "")
            finish = choice.get("finish_reason")
            if finish is not None and (st.calls or st.function_call is not None):
                # hold the finish: it goes out after the checked calls
                changed = True
                choice["finish_reason"] = None
                after.extend(self._release(index, st, finish))
        if not changed:
            return None
        # what is left of the chunk (text, role, usage) goes first, the checked calls after
        keep = [c for c in chunk["choices"] if not isinstance(c, dict) or c.get("delta")
                or c.get("finish_reason") is not None or c.get("logprobs")]
        out = []
        if keep or chunk.get("usage"):
            chunk["choices"] = keep
            out.append(_sse(chunk))
        return out + after

    def flush(self) -> list[bytes]:
        """The stream ended: release (checked) whatever a choice still holds."""
        out: list[bytes] = []
        for index, st in sorted(self.choices.items()):
            if not st.done and (st.calls or st.function_call is not None):
                out.extend(self._release(index, st, None))
        return out


async def _sse_events(resp: httpx.Response) -> AsyncIterator[list[str]]:
    """The upstream body as SSE events (each a list of its lines)."""
    lines: list[str] = []
    async for line in resp.aiter_lines():
        if line == "":
            if lines:
                yield lines
                lines = []
        else:
            lines.append(line)
    if lines:
        yield lines


async def guarded_stream(resp: httpx.Response, sg: StreamGuard, upstream: str
                         ) -> AsyncIterator[bytes]:
    try:
        async for event in _sse_events(resp):
            data = [ln[5:].lstrip(" ") if ln.startswith("data:") else None for ln in event]
            if len(event) == 1 and data[0] is not None:
                replaced = sg.feed(data[0])
                if replaced is None:
                    yield event[0].encode("utf-8") + b"\n\n"
                else:
                    for piece in replaced:
                        yield piece
            else:  # comments, named events, multi-line data: not chat chunks, pass them on
                yield ("\n".join(event) + "\n\n").encode("utf-8")
        for piece in sg.flush():
            yield piece
    except httpx.HTTPError as exc:
        # held tool calls are NOT released: the stream ends with an error event
        err = {"message": f"microloop proxy: the upstream {upstream} stream broke: "
                          f"{type(exc).__name__}: {exc}",
               "type": "upstream_error", "param": None, "code": "upstream_stream_broken"}
        yield _sse({"error": err})
    finally:
        await resp.aclose()


# -- the app ------------------------------------------------------------------------------
def _forward_headers(request: Request, *, keep_encoding: bool) -> dict[str, str]:
    out = {}
    for k, v in request.headers.items():
        lk = k.lower()
        if lk in HOP_BY_HOP or (lk == "accept-encoding" and not keep_encoding):
            continue
        out[k] = v
    return out


def _reply_headers(resp: httpx.Response, *, keep_encoding: bool) -> dict[str, str]:
    out = {}
    for k, v in resp.headers.items():
        lk = k.lower()
        if lk in HOP_BY_HOP and not (keep_encoding and lk == "content-length"):
            continue
        if lk == "content-encoding" and not keep_encoding:
            continue
        out[k] = v
    return out


def _meta_headers(resp: httpx.Response) -> dict[str, str]:
    # what clients read from a completion's headers: request ids, rate limits, timings
    return {k: v for k, v in resp.headers.items()
            if k.lower().startswith(("x-", "openai-", "anthropic-", "retry-after"))}


def check_proxy_policy(policy: dict[str, Any] | None) -> None:
    """Refuse what a stateless proxy cannot honour: every request replays its conversation
    into a fresh guard at one instant, so a saved state (`state_path`) would be spent again by
    every request, and a `per_s` window would see every past call as just made."""
    if not policy:
        return
    if "state_path" in policy:
        raise ValueError("state_path: the proxy keeps no state between requests (each one "
                         "replays its own conversation); remove it")
    for i, rule in enumerate(policy.get("rules") or []):
        if isinstance(rule, dict) and "per_s" in rule:
            raise ValueError(f"rules[{i}].per_s: time budgets need call times, which the "
                             "proxy does not have; a plain count is a per-conversation budget")


def create_app(config: ProxyConfig) -> Starlette:
    policy = load_policy(config.policy)
    Guardrail(policy)  # a bad policy fails here, at start, not on the first request
    check_proxy_policy(policy)
    upstream = config.upstream.rstrip("/")
    timeout = httpx.Timeout(config.timeout, connect=config.connect_timeout)
    # httpx's connection pool scans all its connections for every request it places, so
    # one pool of 50 busy connections costs more CPU than the proxy's own work. Several
    # smaller pools used in turn keep each scan short (bench_proxy.py shows the difference).
    shards = max(1, config.pool_shards)
    per_shard = max(1, config.max_connections // shards)
    limits = httpx.Limits(max_connections=per_shard,
                          max_keepalive_connections=min(32, per_shard))
    pool: list[httpx.AsyncClient] = []
    turn = itertools.count()

    def next_client() -> httpx.AsyncClient:
        return pool[next(turn) % len(pool)]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # one TLS context for all shards (loading the CA bundle takes ~0.1 s each)
        kwargs: dict[str, Any] = {"timeout": timeout, "limits": limits,
                                  "verify": httpx.create_ssl_context()}
        if config.transport is not None:
            kwargs["transport"] = config.transport
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(shards):
                pool.append(await stack.enter_async_context(httpx.AsyncClient(**kwargs)))
            yield
            pool.clear()

    def target(path: str, request: Request) -> str:
        query = request.url.query
        return f"{upstream}/{path}" + (f"?{query}" if query else "")

    async def chat_completions(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            return error_response(400, "the request body is not valid JSON",
                                  "invalid_request_error")
        if not isinstance(body, dict):
            return error_response(400, "the request body must be a JSON object",
                                  "invalid_request_error")
        try:
            history = History.from_messages(body.get("messages"))
        except BadRequest as exc:
            return error_response(400, str(exc), "invalid_request_error", param=exc.param)
        client = next_client()
        headers = _forward_headers(request, keep_encoding=False)
        url = target("chat/completions", request)
        if body.get("stream") is True:
            try:
                resp = await client.send(client.build_request("POST", url, content=raw,
                                                              headers=headers), stream=True)
            except httpx.HTTPError as exc:
                return _upstream_failure(exc, upstream)
            if resp.status_code >= 400:
                try:
                    err = await resp.aread()
                except httpx.HTTPError as exc:
                    return _upstream_failure(exc, upstream)
                finally:
                    await resp.aclose()
                return _passthrough_error(resp.status_code, err, upstream)
            sg = StreamGuard(history, policy)
            return StreamingResponse(
                guarded_stream(resp, sg, upstream), status_code=resp.status_code,
                media_type="text/event-stream",
                headers={**_meta_headers(resp), "cache-control": "no-cache",
                         "x-accel-buffering": "no"})
        try:
            resp = await client.post(url, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            return _upstream_failure(exc, upstream)
        if resp.status_code >= 400:
            return _passthrough_error(resp.status_code, resp.content, upstream)
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return error_response(502, f"microloop proxy: the upstream {upstream} answered "
                                  "something that is not a JSON object", "upstream_error",
                                  "bad_upstream_response")
        try:
            blocked = guard_completion(data, history, policy)
        except BadRequest as exc:  # the upstream's own answer is malformed
            return error_response(502, f"microloop proxy: the upstream {upstream} answered "
                                  f"a malformed completion: {exc}", "upstream_error",
                                  "bad_upstream_response")
        headers = {**_meta_headers(resp), "x-microloop-blocked": str(len(blocked))}
        if not blocked:  # untouched: the upstream's own bytes
            return Response(resp.content, status_code=resp.status_code, headers=headers,
                            media_type=resp.headers.get("content-type", "application/json"))
        data["microloop"] = {"blocked": blocked}
        return JSONResponse(data, status_code=resp.status_code, headers=headers)

    async def passthrough(request: Request) -> Response:
        client = next_client()
        req = client.build_request(request.method, target(request.path_params["path"], request),
                                   content=await request.body(),
                                   headers=_forward_headers(request, keep_encoding=True))
        try:
            resp = await client.send(req, stream=True)
        except httpx.HTTPError as exc:
            return _upstream_failure(exc, upstream)
        return StreamingResponse(resp.aiter_raw(), status_code=resp.status_code,
                                 headers=_reply_headers(resp, keep_encoding=True),
                                 background=BackgroundTask(resp.aclose))

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "upstream": upstream})

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/{path:path}", passthrough, methods=methods),
        Route("/healthz", health, methods=["GET"]),
    ]
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("microloop proxy: internal error")
        return error_response(500, f"microloop proxy: internal error: {type(exc).__name__}",
                              "server_error", "proxy_internal_error")

    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={Exception: internal_error})


# -- command line -------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="microloop proxy",
        description="OpenAI-compatible proxy that checks every tool call the model makes "
                    "with the microloop guard and turns a blocked one into text the agent "
                    "will not execute.")
    p.add_argument("--upstream", default=os.environ.get(UPSTREAM_ENV),
                   help=f"upstream base URL, as you would give an OpenAI client (e.g. "
                        f"https://api.openai.com/v1); default: ${UPSTREAM_ENV}")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"listen address ({DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    p.add_argument("--policy", default="default",
                   help="preset (strict, default, lenient) or policy JSON file (default)")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds to wait for the upstream's answer (300)")
    p.add_argument("--log-level", default="info",
                   choices=["critical", "error", "warning", "info", "debug"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.upstream:
        print(f"microloop proxy: no upstream: pass --upstream URL or set {UPSTREAM_ENV}",
              file=sys.stderr)
        return 2
    try:
        app = create_app(ProxyConfig(upstream=args.upstream, policy=args.policy,
                                     timeout=args.timeout))
    except ValueError as exc:
        print(f"microloop proxy: bad policy: {exc}", file=sys.stderr)
        return 2
    with requires("proxy", "microloop proxy", "uvicorn"):
        import uvicorn

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    print(f"microloop proxy: http://{args.host}:{args.port}/v1 -> {args.upstream} "
          f"(policy {args.policy})", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
