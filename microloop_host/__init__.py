# microloop_host: the microloop guard for host-side (CPython) agents — a Guardrail with a
# `verify` decorator, adapters for LangChain, LangGraph, CrewAI and AutoGen, and an
# OpenAI-compatible guarding proxy. Host-only: nothing in microloop_mpy may import it.
# Importing this package must not import any agent framework (they are optional).
from microloop_host.canonical import call_bytes, result_bytes
from microloop_host.extras import MissingExtra
from microloop_host.guardrail import (
    BlockedResult,
    Guardrail,
    ToolBlocked,
    Verdict,
    blocked_message,
)
from microloop_host.policy import PRESETS, load_policy, preset

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "BlockedResult",
    "MissingExtra",
    "Guardrail",
    "ToolBlocked",
    "Verdict",
    "blocked_message",
    "call_bytes",
    "load_policy",
    "preset",
    "result_bytes",
]
