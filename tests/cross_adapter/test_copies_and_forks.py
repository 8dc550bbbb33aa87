"""What a model object caches stays its own: a copy learns nothing from the original, and
a process forked while another thread was building the model's client can still use it."""

from __future__ import annotations

import copy
import os
import threading
import time
from typing import Any

import pytest

import nugen_client
from langchain_nugen import ChatNugen, NugenEmbeddings
from llama_index_nugen import Nugen, NugenEmbedding
from nugen_client import NugenClient


@pytest.mark.parametrize("cls", [NugenEmbeddings, NugenEmbedding], ids=lambda c: c.__name__)
@pytest.mark.parametrize("clone", [copy.copy, lambda m: m.model_copy()], ids=["copy", "model_copy"])
def test_a_copy_does_not_share_the_learnt_rate_limit(cls: type[Any], clone: Any) -> None:
    model = cls(api_key="k")
    model._limit.rate_limited(model._limit.ticket(), 8)  # a 429 halves the original's bound
    copied = clone(model)
    assert copied._limit.bound(8) == 8
    copied._limit.rate_limited(copied._limit.ticket(), 8)
    copied._limit.rate_limited(copied._limit.ticket(), 8)
    assert model._limit.bound(8) == 4


@pytest.mark.parametrize("cls", [ChatNugen, Nugen], ids=lambda c: c.__name__)
@pytest.mark.parametrize("clone", [copy.copy, lambda m: m.model_copy()], ids=["copy", "model_copy"])
def test_a_copy_changed_in_place_leaves_the_originals_requests_alone(
    nugen_emulator: Any, cls: type[Any], clone: Any
) -> None:
    # A per-tenant copy of a shared model: its headers and extra body fields are its own.
    extra = "model_kwargs" if cls is ChatNugen else "additional_kwargs"
    model = cls(
        base_url=nugen_emulator.base_url,
        api_key=nugen_emulator.api_key,
        default_headers={"X-Tenant": "a"},
        **{extra: {"user": "a"}},
    )
    tenant_b = clone(model)
    tenant_b.default_headers["X-Tenant"] = "b"
    getattr(tenant_b, extra)["user"] = "b"
    for which in (model, tenant_b):
        if cls is ChatNugen:
            which.invoke("hello")
        else:
            which.complete("hello")
        request = nugen_emulator.last_request
        expected = "a" if which is model else "b"
        assert (request.headers["x-tenant"], request.body["user"]) == (expected, expected)


# Forking a threaded process is the point (Python 3.12+ warns about it).
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("cls", [ChatNugen, Nugen], ids=lambda c: c.__name__)
def test_a_fork_during_a_client_build_does_not_deadlock_the_child(
    cls: type[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    building = threading.Event()

    class SlowClient(NugenClient):
        def __init__(self, **kwargs: Any) -> None:
            building.set()
            time.sleep(1.0)
            super().__init__(**kwargs)

    monkeypatch.setattr(nugen_client, "NugenClient", SlowClient)
    model = cls(api_key="k", base_url="http://127.0.0.1:9/v1")
    builder = threading.Thread(target=model._sync_client)
    builder.start()
    assert building.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: the builder thread does not exist here
        try:
            model._sync_client()
        finally:
            os._exit(0)
    builder.join()
    end = time.monotonic() + 10
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung building its client")
