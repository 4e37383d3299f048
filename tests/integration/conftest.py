"""pytest fixtures for recgw's integration tests (real Redis, FerretDB, MinIO).

Fixtures:
  stack            session: a started `stack.Stack` in a fresh temp dir (stopped at the end)
  clean_stack      function: `stack` after `stack.reset()` (empty Redis, db, bucket)
  recgw_binary     session: Path of $RECGW_BINARY or <repo>/build/recgw (skips if absent)
  gateway_factory  function: start_gateway(...) bound to `stack` + `recgw_binary`;
                   every gateway it started is stopped at teardown
  gateway          function: one gateway with the default settings

Services a test stopped with stack.stop_service(...) and did not start again
are restarted after the test, so one failing test cannot break the next ones.
Set RECGW_KEEP_STACK=1 to leave the stack's directory (logs, data) in place.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import (  # noqa: E402
    SERVICES,
    Stack,
    StackError,
    resolve_recgw_binary,
    start_gateway,
    stop_all,
)


@pytest.fixture(scope="session")
def stack():
    keep = os.environ.get("RECGW_KEEP_STACK") == "1"
    directory = Path(tempfile.mkdtemp(prefix="recgw-stack-"))
    st = Stack(directory)
    try:
        st.start()
    except StackError as e:
        st.stop()
        pytest.fail(f"could not start the local stack (run tools/install.sh?):\n{e}", pytrace=False)
    try:
        yield st
    finally:
        st.stop()
        if keep:
            print(f"\nrecgw stack dir kept: {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(autouse=True)
def _restore_stopped_services(request):
    yield
    if "stack" not in request.fixturenames:
        return
    st = request.getfixturevalue("stack")
    for name in SERVICES:
        pid = st.pid(name)
        if pid is None or not Path(f"/proc/{pid}").exists():
            st.start_service(name)


@pytest.fixture
def clean_stack(stack):
    stack.reset()
    return stack


@pytest.fixture(scope="session")
def recgw_binary() -> Path:
    path = resolve_recgw_binary()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"recgw binary not built: {path} (cmake --build build, or set RECGW_BINARY)")
    return path


@pytest.fixture
def gateway_factory(stack, recgw_binary, tmp_path):
    started = []
    counter = [0]

    def factory(extra_env=None, args=(), **kw):
        counter[0] += 1
        kw.setdefault("binary", recgw_binary)
        kw.setdefault("log_dir", tmp_path / f"gateway-{counter[0]}")
        gw = start_gateway(kw.pop("stack", stack), extra_env, args, **kw)
        started.append(gw)
        return gw

    yield factory
    stop_all(started)


@pytest.fixture
def gateway(gateway_factory):
    return gateway_factory()
