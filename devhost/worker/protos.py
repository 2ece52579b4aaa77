"""The worker protocol's messages, compiled from ``function_rpc.proto`` on first use.

The worker library is handed its ``protos`` module by the proxy worker that
the Functions host ships; here the local host is that proxy, so it compiles
the protocol subset it speaks with ``grpc_tools.protoc`` into a private
folder once per process and imports the generated module.
"""

from __future__ import annotations

import atexit
import importlib.util
import shutil
import tempfile
import threading
from pathlib import Path
from types import ModuleType

PROTO = Path(__file__).with_name("function_rpc.proto")

_lock = threading.Lock()
_module: ModuleType | None = None


class ProtocolUnavailable(RuntimeError):
    """The protobuf toolchain the local host needs is not installed."""


def protos() -> ModuleType:
    """The generated message module (``TypedData``, ``InvocationRequest``, ...)."""
    global _module
    with _lock:
        if _module is None:
            _module = _compile()
        return _module


def _compile() -> ModuleType:
    try:
        import grpc_tools
        from grpc_tools import protoc
    except ImportError as exc:  # pragma: no cover - the host extra installs it
        raise ProtocolUnavailable(
            "the local host needs grpcio-tools and protobuf: pip install -e '.[host]'"
        ) from exc
    out = Path(tempfile.mkdtemp(prefix="sre-copilot-protos-"))
    atexit.register(shutil.rmtree, out, True)
    well_known = Path(grpc_tools.__file__).with_name("_proto")
    code = protoc.main(
        [
            "protoc",
            f"-I{PROTO.parent}",
            f"-I{well_known}",
            f"--python_out={out}",
            str(PROTO),
        ]
    )
    generated = out / f"{PROTO.stem}_pb2.py"
    if code != 0 or not generated.is_file():
        raise ProtocolUnavailable(f"protoc could not compile {PROTO.name} (exit {code})")
    spec = importlib.util.spec_from_file_location("devhost_function_rpc_pb2", generated)
    if spec is None or spec.loader is None:  # pragma: no cover
        raise ProtocolUnavailable(f"cannot import {generated}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
