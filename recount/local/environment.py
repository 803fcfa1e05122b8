"""One execution environment as its own process, as Lambda runs it: the handler module imported once (its cold
start, measured), then one invocation at a time, each with its deadline. A crash or a timeout is an invocation
error, and the environment is gone: the pool makes a new one when it next needs one.

The parent writes one JSON request per line to the child's stdin; the child answers on what was its stdout,
one JSON line per request, and sends its own output (the function's logs) to the log file.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NoReturn

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_GRACE_S = 1.0  # past the function timeout, before the environment is killed as Lambda would

MetricSink = Callable[[str, float], None]  # (metric name, value), as the function recorded it


class InvocationError(RuntimeError):
    """The invocation failed as a whole: the handler raised, timed out or its process died."""


class ProcessEnvironment:
    """The parent's side of one environment: call it like a handler. The process starts on the first call."""

    def __init__(self, function: str, module: str, environment: dict[str, str], log_path: Path) -> None:
        self.function = function
        self.module = module  # the handler module, e.g. functions.sweeper.handler
        self.environment = environment
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.alive = True
        self.init_ms: float | None = None  # the cold start: the handler module's import, measured in the child
        self.cpu_s = 0.0  # the child's CPU time, as of its last answer
        self.on_metric: MetricSink | None = None
        self.on_cold_start: Callable[[float], None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if not self.alive:
            raise InvocationError("the environment is gone")  # the pool drops it on release
        if self.process is None:
            self._start(context)
        timeout_s = context.get_remaining_time_in_millis() / 1000
        reply = self._ask({"event": event, "timeout_s": timeout_s}, timeout_s)
        for name, value in reply.get("metrics", []):
            if self.on_metric is not None:
                self.on_metric(name, value)
        if "error" in reply:
            raise InvocationError(reply["error"])
        return dict(reply["response"])

    def close(self) -> None:
        self.alive = False
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def _start(self, context: Any) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "recount.local.environment", self.module],
            cwd=ROOT,
            env={
                **self.environment,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), self.environment.get("PYTHONPATH")])),
            },
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,  # Ctrl-C is the parent's, which drains; the environment ends at EOF on stdin
        )
        log.close()
        ready = self._read(context.get_remaining_time_in_millis() / 1000)
        if "error" in ready:
            self._died(ready["error"])
        self.init_ms = float(ready["init_ms"])
        if self.on_cold_start is not None:
            self.on_cold_start(self.init_ms)

    def _ask(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            self._died(f"Runtime exited before the invocation: {error}")
        return self._read(timeout_s)

    def _read(self, timeout_s: float) -> dict[str, Any]:
        """The child's next answer; past the timeout (and a grace) or on a broken answer, the environment dies."""
        assert self.process is not None and self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], max(0.0, timeout_s + TIMEOUT_GRACE_S))
        if not readable:
            self._died(f"Task timed out after {timeout_s:.2f} seconds")
        line = self.process.stdout.readline()
        if not line.endswith(b"\n"):  # nothing, or half an answer: the process ended while it wrote
            self._died(f"Runtime exited with error: exit status {self.process.wait(timeout=10)}")
        try:
            reply: dict[str, Any] = json.loads(line)
        except ValueError as error:
            self._died(f"Runtime answered what is not JSON: {error}")
        self.cpu_s = float(reply.get("cpu_s", self.cpu_s))
        return reply

    def _died(self, reason: str) -> NoReturn:
        self.close()
        raise InvocationError(reason)


class _Context:
    """What Powertools reads from Lambda's context, counting down from the deadline the parent gave."""

    def __init__(self, function_name: str, timeout_s: float) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = 512
        self.aws_request_id = os.urandom(16).hex()
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Guard:
    """The child's own lifeline: it exits when the process that started it is gone (a killed `recount local`
    leaves no environment behind, even one in the middle of a batch) or when an invocation overruns well past
    the deadline the parent would have killed it at."""

    def __init__(self) -> None:
        self._parent = os.getppid()
        self._deadline: float | None = None

    def start(self) -> Guard:
        threading.Thread(target=self._watch, name="guard", daemon=True).start()
        return self

    def invocation_started(self, limit_s: float) -> None:
        self._deadline = time.monotonic() + limit_s

    def invocation_ended(self) -> None:
        self._deadline = None

    def _watch(self) -> None:
        while os.getppid() == self._parent and (self._deadline is None or time.monotonic() < self._deadline):
            time.sleep(0.5)
        os._exit(1)


guard = Guard()


def serve(module: str, requests: IO[str], replies: IO[str]) -> None:
    """The child's loop: import the handler (the cold start), say so, then answer each request in turn."""
    started = time.perf_counter()
    from shared.telemetry import add_listener, set_emf

    collected: list[tuple[str, float]] = []
    add_listener(lambda metric, value: collected.append((metric.value, value)))
    set_emf(False)  # the parent shows the metrics; EMF lines would only fill the log
    try:
        handler = importlib.import_module(module).lambda_handler
    except Exception as error:  # as Lambda says it; the environment is not made
        traceback.print_exc()
        _answer(replies, {"error": f"Runtime.ImportModuleError: {type(error).__name__}: {error}"})
        return
    _answer(replies, {"init_ms": (time.perf_counter() - started) * 1000})
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", module)
    for line in requests:
        request = json.loads(line)
        collected.clear()
        guard.invocation_started(request["timeout_s"] + 2 * TIMEOUT_GRACE_S)
        try:
            reply: dict[str, Any] = {"response": handler(request["event"], _Context(function, request["timeout_s"]))}
        except Exception as error:  # an invocation error: Lambda would log it and retry the whole batch
            traceback.print_exc()
            reply = {"error": f"{type(error).__name__}: {error}"}
        guard.invocation_ended()
        _answer(replies, {**reply, "metrics": list(collected)})


def _answer(replies: IO[str], reply: dict[str, Any]) -> None:
    try:
        line = json.dumps({**reply, "cpu_s": time.process_time()})
    except (TypeError, ValueError) as error:  # the handler's response cannot be sent back, as in Lambda
        line = json.dumps({"error": f"Runtime.MarshalError: {error}", "cpu_s": time.process_time()})
    replies.write(line + "\n")
    replies.flush()


def main() -> None:
    """`python -m recount.local.environment HANDLER_MODULE`: answers on the stdout it was given; everything the
    function prints goes to stderr (the log file) instead."""
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", encoding="utf-8", buffering=1)
    guard.start()
    serve(sys.argv[1], sys.stdin, replies)


if __name__ == "__main__":
    main()
