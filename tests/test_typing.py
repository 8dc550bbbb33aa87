"""What a user's type checker sees of the public API: mypy ``--strict`` without the pydantic
plugin (which users do not have), and the constructor keywords as PEP 681 defines them for
pydantic models (a field's ``alias`` when it has one, else its name), the way mypy and
pyright synthesise a model's ``__init__``."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from tests.examples.test_docs import ADAPTER_CLASSES, adapter_class, parameter_rows

ROOT = Path(__file__).resolve().parent.parent

# The frameworks and libraries are skipped (their names become Any): analysing them takes
# tens of seconds, and only this package's own names are checked here. Errors inside the
# package are silenced: with its dependencies skipped it cannot check clean.
MYPY_CONFIG = """\
[mypy]
strict = True
[mypy-langchain_core.*,langchain.*,llama_index.core.*,pydantic.*,pydantic_core.*,httpx.*,\
starlette.*,uvicorn.*,tenacity.*,anyio.*,typing_extensions]
follow_imports = skip
[mypy-nugen_client.*,nugen_shared.*,nugen_emulator.*,langchain_nugen.*,llama_index_nugen.*,\
llama_index.llms.nugen,llama_index.embeddings.nugen,llama_index.multi_modal_llms.nugen,\
llama_index.postprocessor.nugen_rerank]
follow_imports = silent
"""

# Each line ending in "# error" must be reported, and no other.
IMPORTS = """\
from langchain_nugen import ChatNugen, NugenEmbeddings, NugenLLM, NugenRerank, __version__
from langchain_nugen import ChatNugn  # error
from llama_index_nugen import Nugen, NugenEmbedding, NugenMultiModal, NugenRerank as Rerank
from llama_index_nugen import NugenEmbeding  # error
from llama_index.llms.nugen import Nugen as AliasNugen
from nugen_client import APIStatusError, AsyncNugenClient, NugenClient, NugenError
from nugen_client import NugenClent  # error
from nugen_emulator import DEFAULT_API_KEY, Fault, NugenEmulator
from nugen_emulator import NugenEmulater  # error
import langchain_nugen
langchain_nugen.ChatNugen
langchain_nugen.ChatNugn  # error
"""


def _mypy_errors(tmp_path: Path, config: str, code: str) -> tuple[list[int], str]:
    """The lines of ``code`` that mypy reports an error on, with its whole output."""
    pytest.importorskip("mypy")
    (tmp_path / "mypy.ini").write_text(config, encoding="utf-8")
    (tmp_path / "user_code.py").write_text(code, encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(tmp_path / "mypy.ini"),
            "--cache-dir",  # shared by this run's checks: the frameworks are checked once
            str(tmp_path.parent / "mypy-cache"),
            "--no-error-summary",
            "--hide-error-context",
            str(tmp_path / "user_code.py"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,  # the packages of this checkout
        timeout=120,
    )
    reported = sorted(
        {
            int(line.split(":")[1])
            for line in done.stdout.splitlines()
            if line.startswith(str(tmp_path / "user_code.py")) and ": error:" in line
        }
    )
    return reported, done.stdout + done.stderr


def test_a_misspelt_public_name_is_a_type_error(tmp_path: Path) -> None:
    # The packages load their classes on first use (a module __getattr__): a type checker
    # that saw that __getattr__ would accept any name at all.
    reported, output = _mypy_errors(tmp_path, MYPY_CONFIG, IMPORTS)
    expected = [n for n, line in enumerate(IMPORTS.splitlines(), 1) if line.endswith("# error")]
    assert reported == expected, output


def _following(*modules: str) -> str:
    """MYPY_CONFIG, following the frameworks' ``modules`` (and typing_extensions, for
    ``assert_type``) as far as the user code's types need: only that is analysed."""
    return MYPY_CONFIG.replace(",typing_extensions]", "]") + (
        f"[mypy-{','.join(modules)}]\nfollow_imports = silent\n"
    )


# What a LangChain model's output types need of langchain_core (fast to analyse).
LANGCHAIN_CORE = (
    "langchain_core.load.serializable",
    "langchain_core.language_models",
    "langchain_core.language_models.*",
    "langchain_core.messages",
    "langchain_core.messages.ai",
    "langchain_core.runnables",
    "langchain_core.runnables.base",
    "langchain_core.runnables.utils",
)

LANGCHAIN_OUTPUTS = """\
from collections.abc import AsyncIterator, Iterator
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_nugen import ChatNugen, NugenLLM
from typing_extensions import assert_type
chat, llm = ChatNugen(), NugenLLM()
assert_type(chat.invoke("x"), AIMessage)
assert_type(chat.stream("x"), Iterator[AIMessageChunk])
assert_type(chat.astream("x"), AsyncIterator[AIMessageChunk])
assert_type(chat.batch(["x"]), list[AIMessage])
assert_type(llm.invoke("x"), str)
assert_type(llm.stream("x"), Iterator[str])
async def calls() -> None:
    assert_type(await chat.ainvoke("x"), AIMessage)
    assert_type(await llm.ainvoke("x"), str)
"""


def test_langchain_calls_have_the_frameworks_output_types(tmp_path: Path) -> None:
    # As ChatOpenAI's and OpenAI's: the entry points that take the run config's session
    # must not show a type checker their own (Any) signatures.
    reported, output = _mypy_errors(tmp_path, _following(*LANGCHAIN_CORE), LANGCHAIN_OUTPUTS)
    assert reported == [], output


STRUCTURED_OUTPUT = """\
from langchain_nugen import ChatNugen
from pydantic import BaseModel
from typing_extensions import assert_type
class Landmark(BaseModel):
    name: str
model = ChatNugen()
assert_type(model.with_structured_output(Landmark).invoke("x"), Landmark)
assert_type(model.with_structured_output(Landmark, method="json_schema").invoke("x"), Landmark)
result = model.with_structured_output(Landmark, include_raw=True).invoke("x")
print(result["parsed"], result["raw"])
"""


def test_structured_output_has_the_schemas_type(tmp_path: Path) -> None:
    # examples/langchain_structured_output.py's calls: a pydantic class's instances, and
    # include_raw's dict (ChatOpenAI's leaves both Any-like, so they type-check there).
    config = _following(*LANGCHAIN_CORE, "pydantic", "pydantic.*")
    reported, output = _mypy_errors(tmp_path, config, STRUCTURED_OUTPUT)
    assert reported == [], output


IMAGE_DOCUMENTS = """\
from llama_index.core.schema import ImageDocument, ImageNode
from llama_index_nugen import NugenMultiModal
model = NugenMultiModal()
model.complete("Describe it.", [ImageDocument(image_path="pixel.png")])
model.stream_complete("Describe it.", image_documents=[ImageNode(image_url="https://a/b.png")])
"""


def test_the_multimodal_llm_takes_image_documents(tmp_path: Path) -> None:
    # docs/vision.md's own call: an ImageDocument is a Document, not an ImageNode, so the
    # MultiModalLLM signature (ImageNode | ImageBlock) alone would refuse it.
    config = _following(
        "llama_index.core.bridge.pydantic",
        "llama_index.core.schema",
        "llama_index.core.base.llms.types",
        "pydantic",
        "pydantic.*",
    )
    reported, output = _mypy_errors(tmp_path, config, IMAGE_DOCUMENTS)
    assert reported == [], output


API_KEYS = """\
from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen, NugenEmbedding
from pydantic import SecretStr
from typing_extensions import assert_type
model = ChatNugen(api_key="sk-text")
model.api_key = "sk-other"
assert_type(model.api_key, SecretStr | None)
assert_type(Nugen(api_key="sk-text").api_key, SecretStr | None)
NugenEmbedding(api_key=SecretStr("sk-secret"))
NugenEmbedding(api_key=b"sk-bytes")  # error
"""


def test_the_api_key_is_given_as_text_and_read_as_a_secret(tmp_path: Path) -> None:
    # As the field takes it (and as llama-index's OpenAI takes a str), not SecretStr only.
    reported, output = _mypy_errors(tmp_path, _following("pydantic", "pydantic.*"), API_KEYS)
    expected = [n for n, line in enumerate(API_KEYS.splitlines(), 1) if line.endswith("# error")]
    assert reported == expected, output


def _checker_keywords(cls: type) -> set[str]:
    """The keywords a type checker lets a call of ``cls(...)`` pass."""
    fields = getattr(cls, "model_fields", None)
    if fields is None:  # the plain clients: their own __init__
        return set(inspect.signature(cls).parameters)
    return {field.alias if isinstance(field.alias, str) else name for name, field in fields.items()}


@pytest.mark.parametrize("name", ADAPTER_CLASSES)
def test_type_checkers_and_help_show_the_documented_keywords(name: str) -> None:
    cls = adapter_class(name)
    documented = {parameter for parameter, where in parameter_rows() if name in where}
    assert documented - _checker_keywords(cls) == set(), "refused by a type checker"
    assert documented - set(inspect.signature(cls).parameters) == set(), "not in help()"


CHAT_REPLY_HOOK = """\
from nugen_emulator.replies import ChatCall, Choice, Generation
def script(call: ChatCall) -> Generation | None:
    names = [tool["function"]["name"] for tool in call.tools]
    schema = call.tools[0]["function"]["parameters"]
    text = f"{names} {schema} {call.messages[-1]['content']}"
    return Generation([Choice(content=text, finish_reason="stop")], call.prompt_tokens)
"""


def test_a_chat_reply_hook_reads_the_offered_tools(tmp_path: Path) -> None:
    # The wire shape docs/emulator.md gives ({"type", "function": {"name", ...}}): a hook
    # picking a tool by name must type-check under --strict.
    reported, output = _mypy_errors(tmp_path, MYPY_CONFIG, CHAT_REPLY_HOOK)
    assert reported == [], output
