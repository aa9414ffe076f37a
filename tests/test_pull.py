"""G0-PULL against a real local Hub (tests/fake_hf_hub.py): what is downloaded, what comes from the cache, offline
mode, failures as Falsified reasons, and that the pulled directory resolves like a --model-path directory."""

from __future__ import annotations

import io
import json
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import numpy as np
import pytest
from fake_hf_hub import FakeHub, closed_port_url, running
from huggingface_hub import constants, hf_hub_download
from huggingface_hub.utils import set_client_factory
from huggingface_hub.utils._http import default_client_factory, hf_request_event_hook
from safetensors.numpy import save

from aprqa_action.plan.pull import choose_files, hub_settings, pull, pull_model
from aprqa_action.plan.resolve import resolve_models
from aprqa_action.playbook import ModelSpec
from aprqa_action.records.axes import Format

REPO = "org/tiny-GGUF"
ST_REPO = "org/tiny-st"
TOKEN = "hf_" + "Sekrit" * 6


def gguf(tag: str, size: int = 3000) -> bytes:
    """A GGUF v3 header (no tensors, no metadata) and filler that makes each file's bytes distinct."""
    return struct.pack("<4sIQQ", b"GGUF", 3, 0, 0) + (tag.encode() * size)[:size]


GGUF_FILES = {
    "tiny-Q4_K_M.gguf": gguf("q4km"),
    "tiny-Q8_0.gguf": gguf("q80", 5000),
    "tiny-F16.gguf": gguf("f16", 8000),
    "README.md": b"# tiny\n",
}


def safetensors_repo() -> dict[str, bytes]:
    shards = {
        "model-00001-of-00002.safetensors": save({"a": np.arange(64, dtype=np.float32).reshape(8, 8)}),
        "model-00002-of-00002.safetensors": save({"b": np.ones((8, 8), dtype=np.float32)}),
    }
    index = {"metadata": {"total_size": 512}, "weight_map": {"a": next(iter(shards)), "b": list(shards)[1]}}
    return {
        **shards,
        "model.safetensors.index.json": json.dumps(index).encode(),
        "config.json": b'{"architectures": ["TinyForCausalLM"]}',
        "generation_config.json": b'{"do_sample": false}',
        "tokenizer.json": b'{"model": {"type": "BPE"}}',
        "tokenizer_config.json": b'{"model_max_length": 128}',
        "README.md": b"# tiny\n",
        "pytorch_model.bin": b"\x80\x02pickle" * 100,
        "tiny-q4_k_m.gguf": gguf("other"),
    }


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    """huggingface_hub may talk to 127.0.0.1 only, with no token from this machine and online unless a test says so.

    Its user-agent code would look up an agent registry on huggingface.co (HF_HUB_DISABLE_TELEMETRY turns that off);
    every request of its shared client goes through a guard that refuses any other host and remembers it.
    """
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    strays: list[str] = []

    def guard(request: httpx2.Request) -> None:
        if request.url.host != "127.0.0.1":
            strays.append(str(request.url))
            raise httpx2.ConnectError(f"test guard: {request.url} is not loopback", request=request)

    set_client_factory(
        lambda: httpx2.Client(
            event_hooks={"request": [hf_request_event_hook, guard]}, follow_redirects=True, timeout=None
        )
    )
    yield strays
    set_client_factory(default_client_factory)
    assert not strays, f"requests left the machine: {strays}"


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with running({REPO: GGUF_FILES, ST_REPO: safetensors_repo()}) as server:
        yield server


def hub_env(hub: FakeHub | str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": hub if isinstance(hub, str) else hub.url, **extra}


def gguf_names(directory: str | None) -> list[str]:
    assert directory is not None
    return sorted(p.name for p in Path(directory).iterdir() if p.name.endswith(".gguf"))


# -- GGUF: only the declared quantization ----------------------------------------------------------------------


def test_only_the_declared_quantization_is_downloaded(
    hub: FakeHub, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    result = pull(REPO, ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path))

    assert result.outcome == "Corroborated", result.reason
    assert not result.from_cache
    assert hub.downloaded() == ["tiny-Q4_K_M.gguf"]
    assert gguf_names(result.directory) == ["tiny-Q4_K_M.gguf"]
    snapshots = tmp_path.resolve() / "hf" / "hub" / "models--org--tiny-GGUF" / "snapshots"
    assert result.directory == str(snapshots / hub.repos[REPO].sha)
    assert result.files == [f"{result.directory}/tiny-Q4_K_M.gguf"]
    assert Path(result.files[0]).read_bytes() == GGUF_FILES["tiny-Q4_K_M.gguf"]
    assert result.reason == f"pulled 1 file (3.0 KB) of {REPO}@{result.commit} into {result.directory}"
    # Off a terminal (pytest captures stderr) no progress bar is drawn.
    assert "Fetching" not in capfd.readouterr().err

    resolved = resolve_models([Format.GGUF], result.directory, ["q4_k_m"])
    assert resolved[Format.GGUF].path == result.files[0]


def test_a_second_pull_comes_from_the_cache_without_a_request(hub: FakeHub, tmp_path: Path) -> None:
    first = pull(REPO, ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path))
    hub.clear()

    again = pull(REPO, ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path))

    assert again.outcome == "Corroborated", again.reason
    assert again.from_cache
    assert hub.requests == []
    assert (again.directory, again.files, again.commit) == (first.directory, first.files, first.commit)
    assert again.reason.startswith(f"found 1 file (3.0 KB) of {REPO}@{first.commit} in the HF cache at ")


def test_another_quantization_of_a_cached_repo_downloads_only_that_file(hub: FakeHub, tmp_path: Path) -> None:
    pull(REPO, ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path))
    hub.clear()

    result = pull(REPO, ["gguf"], ["q4_k_m", "q8_0"], env=hub_env(hub, tmp_path))

    assert result.outcome == "Corroborated", result.reason
    assert not result.from_cache
    assert hub.downloaded() == ["tiny-Q8_0.gguf"]
    assert gguf_names(result.directory) == ["tiny-Q4_K_M.gguf", "tiny-Q8_0.gguf"]
    assert "pulled 1 file (5.0 KB)" in result.reason and "(1 already cached)" in result.reason


def test_a_declared_quantization_the_repo_lacks_downloads_nothing(hub: FakeHub, tmp_path: Path) -> None:
    result = pull(REPO, ["gguf"], ["q5_k_m"], env=hub_env(hub, tmp_path))

    assert result.outcome == "Falsified"
    assert hub.downloaded() == []
    assert (
        "no gguf file is named after q5_k_m (tiny-F16.gguf, tiny-Q4_K_M.gguf, tiny-Q8_0.gguf): "
        "declare one of theirs in model.quantizations"
    ) in result.reason


def test_without_a_declared_quantization_one_file_is_chosen_not_all(hub: FakeHub, tmp_path: Path) -> None:
    result = pull(REPO, ["gguf"], [], env=hub_env(hub, tmp_path))

    assert result.outcome == "Corroborated", result.reason
    assert len(hub.downloaded()) == 1
    assert "3 gguf files and no quantization declared: chose tiny-F16.gguf" in result.reason


def test_a_format_the_repo_lacks_is_noted_and_the_others_are_pulled(hub: FakeHub, tmp_path: Path) -> None:
    result = pull(REPO, ["gguf", "apr"], ["q4_k_m"], env=hub_env(hub, tmp_path))

    assert result.outcome == "Corroborated", result.reason
    assert "no apr file at the top of the repo" in result.reason
    resolved = resolve_models([Format.GGUF, Format.APR], result.directory, ["q4_k_m"])
    assert resolved[Format.GGUF].path == result.files[0]
    assert resolved[Format.APR].how == "missing"


# -- SafeTensors: index, shards, config, tokenizer --------------------------------------------------------------


def test_a_sharded_safetensors_repo_brings_index_shards_config_and_tokenizer(tmp_path: Path) -> None:
    with running({ST_REPO: safetensors_repo()}, page_size=3) as hub:
        result = pull(ST_REPO, ["safetensors"], [], env=hub_env(hub, tmp_path))
        tree_pages = [r for r in hub.requests if "/tree/" in r.path]

    assert result.outcome == "Corroborated", result.reason
    wanted = [
        "config.json",
        "generation_config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert sorted(hub.downloaded()) == wanted
    assert result.directory is not None
    assert sorted(p.name for p in Path(result.directory).iterdir()) == wanted
    assert len(tree_pages) == 4  # 11 files listed 3 per page: the Link rel="next" cursor was followed
    assert "pulled 7 files" in result.reason

    resolved = resolve_models([Format.SAFETENSORS], result.directory, [])
    assert resolved[Format.SAFETENSORS].path == f"{result.directory}/model.safetensors.index.json"


# -- offline -----------------------------------------------------------------------------------------------------


def test_offline_with_the_repo_cached_makes_no_request(hub: FakeHub, tmp_path: Path) -> None:
    online = pull(REPO, ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path))
    hub.clear()

    result = pull(REPO, ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path, HF_HUB_OFFLINE="1"))

    assert result.outcome == "Corroborated", result.reason
    assert result.from_cache
    assert result.files == online.files
    assert hub.requests == []


def test_offline_without_the_repo_is_falsified_with_what_to_do(hub: FakeHub, tmp_path: Path) -> None:
    result = pull(REPO, ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path, HF_HUB_OFFLINE="yes"))

    assert result.outcome == "Falsified"
    assert hub.requests == []
    cache = tmp_path / "hf" / "hub"
    assert result.reason == (
        f"HF_HUB_OFFLINE=1 and {REPO} is not in the HF cache (looked in {cache}: no snapshot of it): "
        f"run `hf download {REPO} --include '*[qQ]4_[kK]_[mM]*.gguf'` where the Hub is reachable, "
        "with the same HF_HOME, or pass --model-path"
    )


def test_offline_with_another_quantization_cached_names_the_missing_file(hub: FakeHub, tmp_path: Path) -> None:
    pull(REPO, ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path))
    hub.clear()

    result = pull(REPO, ["gguf"], ["q8_0"], env=hub_env(hub, tmp_path, HF_HUB_OFFLINE="1"))

    assert result.outcome == "Falsified"
    assert hub.requests == []
    assert "its cached snapshot lacks tiny-Q8_0.gguf" in result.reason


def test_a_cache_filled_file_by_file_is_used_for_what_it_holds(hub: FakeHub, tmp_path: Path) -> None:
    # hf_hub_download of one file leaves a snapshot and a ref but no listing of the repo.
    hf_hub_download(REPO, "tiny-Q4_K_M.gguf", cache_dir=tmp_path / "hf" / "hub", endpoint=hub.url)
    hub.clear()

    online = pull(REPO, ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path))
    offline = pull(REPO, ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path, HF_HUB_OFFLINE="1"))
    other = pull(REPO, ["gguf"], ["q8_0"], env=hub_env(hub, tmp_path, HF_HUB_OFFLINE="1"))

    assert hub.requests == []
    for result in (online, offline):
        assert result.outcome == "Corroborated", result.reason
        assert result.from_cache
        assert "cached without a file listing" in result.reason
    # The lone cached GGUF is not taken for a quantization its name does not carry.
    assert other.outcome == "Falsified"
    assert "no gguf file is named after q8_0 (tiny-Q4_K_M.gguf)" in other.reason


def test_offline_mode_set_when_huggingface_hub_was_imported_is_honoured(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    result = pull(REPO, ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path))

    assert result.outcome == "Falsified"
    assert result.reason.startswith("HF_HUB_OFFLINE=1 and ")
    assert hub.requests == []


def test_the_process_environment_is_read_at_call_time(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))

    result = pull(REPO, ["gguf"], ["q4_k_m"])

    assert result.outcome == "Corroborated", result.reason
    assert result.directory is not None
    assert result.directory.startswith(str(tmp_path / "elsewhere" / "models--org--tiny-GGUF" / "snapshots"))


def test_a_pinned_commit_resolves_online_and_then_offline(hub: FakeHub, tmp_path: Path) -> None:
    sha = hub.repos[REPO].sha
    online = pull(REPO, ["gguf"], ["q8_0"], revision=sha, env=hub_env(hub, tmp_path))
    hub.clear()

    offline = pull(REPO, ["gguf"], ["q8_0"], revision=sha, env=hub_env(hub, tmp_path, HF_HUB_OFFLINE="1"))

    assert online.outcome == offline.outcome == "Corroborated", (online.reason, offline.reason)
    assert online.commit == offline.commit == sha
    assert hub.requests == []


# -- failures are Falsified with the reason ---------------------------------------------------------------------


def test_a_missing_repo_is_falsified(hub: FakeHub, tmp_path: Path) -> None:
    result = pull("org/nope", ["gguf"], [], env=hub_env(hub, tmp_path))

    assert result.outcome == "Falsified"
    assert result.directory is None and result.files == []
    assert result.reason.startswith(f"repository not found: org/nope on the Hub at {hub.url}")


def test_a_missing_revision_is_falsified(hub: FakeHub, tmp_path: Path) -> None:
    result = pull(REPO, ["gguf"], [], revision="v9", env=hub_env(hub, tmp_path))

    assert result.outcome == "Falsified"
    assert result.reason == f"revision 'v9' not found in {REPO} on the Hub at {hub.url}"


def test_an_unreachable_hub_is_falsified(tmp_path: Path) -> None:
    endpoint = closed_port_url()

    result = pull(REPO, ["gguf"], ["q4_k_m"], env=hub_env(endpoint, tmp_path))

    assert result.outcome == "Falsified"
    assert result.reason.startswith(f"cannot reach the Hub at {endpoint}: ")
    assert "Connection refused" in result.reason


def test_a_server_error_is_falsified_with_its_status(hub: FakeHub, tmp_path: Path) -> None:
    hub.inject("GET", r"^/api/models/", 503, headers={"X-Error-Message": "Hub under maintenance"})

    result = pull(REPO, ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path))

    assert result.outcome == "Falsified"
    assert result.reason.startswith(f"the Hub at {hub.url} answered HTTP 503 for {REPO}: ")


def test_without_huggingface_hub_installed_the_reason_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)

    result = pull(REPO, ["gguf"], [], env={})

    assert result.outcome == "Falsified"
    assert "pip install 'aprqa-action[pull]'" in result.reason


def test_an_unknown_format_is_falsified(tmp_path: Path) -> None:
    result = pull(REPO, ["onnx"], [], env=hub_env(closed_port_url(), tmp_path))

    assert result.outcome == "Falsified"
    assert "'onnx' is not a valid Format" in result.reason


# -- tokens ------------------------------------------------------------------------------------------------------


def test_a_private_repo_is_read_with_hf_token_which_never_reaches_the_cdn(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_repo("org/private", GGUF_FILES, token=TOKEN)

    result = pull("org/private", ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path, HF_TOKEN=TOKEN))

    assert result.outcome == "Corroborated", result.reason
    assert TOKEN not in result.reason
    hub_calls = [r for r in hub.requests if r.origin == "hub"]
    cdn_calls = [r for r in hub.requests if r.origin == "cdn"]
    assert hub_calls and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in hub_calls)
    assert cdn_calls and not any("authorization" in r.headers for r in cdn_calls)


def test_a_wrong_token_is_falsified_and_not_repeated(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_repo("org/private", GGUF_FILES, token=TOKEN)
    wrong = "hf_" + "Wrong" * 7

    result = pull("org/private", ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path, HF_TOKEN=wrong))

    assert result.outcome == "Falsified"
    assert result.reason.startswith("repository not found: org/private")
    assert wrong not in result.reason


def test_a_token_echoed_by_a_proxy_is_masked(hub: FakeHub, tmp_path: Path) -> None:
    hub.inject("GET", r"^/api/models/", 403, headers={"X-Error-Message": f"denied: Authorization: Bearer {TOKEN}"})

    result = pull(REPO, ["gguf"], ["q4_k_m"], env=hub_env(hub, tmp_path, HF_TOKEN=TOKEN))

    assert result.outcome == "Falsified"
    assert "HTTP 403" in result.reason
    assert TOKEN not in result.reason
    assert "Sekrit" not in result.reason


# -- --model-path given (seed bug 204) ----------------------------------------------------------------------------


def test_a_given_model_path_skips_the_pull_without_a_request(hub: FakeHub, tmp_path: Path) -> None:
    spec = ModelSpec(hf_repo=REPO, formats=[Format.GGUF], quantizations=["q4_k_m"])

    result = pull_model(spec, tmp_path / "model.gguf", env=hub_env(hub, tmp_path))

    assert result.outcome == "Skipped"
    assert result.reason == f"--model-path {tmp_path / 'model.gguf'} given: {REPO} is not pulled"
    assert hub.requests == []


def test_without_a_model_path_the_playbook_model_is_pulled(hub: FakeHub, tmp_path: Path) -> None:
    spec = ModelSpec(hf_repo=REPO, formats=[Format.GGUF], quantizations=["q8_0"])

    result = pull_model(spec, None, env=hub_env(hub, tmp_path))

    assert result.outcome == "Corroborated", result.reason
    assert hub.downloaded() == ["tiny-Q8_0.gguf"]


# -- the choice of files ------------------------------------------------------------------------------------------


def test_quantizations_match_whole_tokens_and_split_files_travel_together() -> None:
    names = [
        "m-bf16.gguf",
        "m-f16.gguf",
        "m-Q4_K_S.gguf",
        "m-Q4_K_M-00001-of-00002.gguf",
        "m-Q4_K_M-00002-of-00002.gguf",
        "sub/m-f16.gguf",
    ]

    assert choose_files(names, [Format.GGUF], ["f16"]).files == ["m-f16.gguf"]
    assert choose_files(names, [Format.GGUF], ["q4_k_m"]).files == [
        "m-Q4_K_M-00001-of-00002.gguf",
        "m-Q4_K_M-00002-of-00002.gguf",
    ]
    assert choose_files(names, [Format.GGUF], ["q4_k"]).files == []
    only = choose_files(["only.gguf"], [Format.GGUF], ["q4_k_m"])
    assert only.files == ["only.gguf"]
    assert only.notes == ["the only gguf file, only.gguf, is not named after q4_k_m: pulled it"]


# -- the environment ---------------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_environment_is_read_with_huggingface_hub_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = str(tmp_path / "home")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    default = hub_settings({"XDG_CACHE_HOME": home})
    assert default.cache_dir == f"{home}/huggingface/hub"
    assert default.endpoint == constants.ENDPOINT
    assert (default.offline, default.token, default.progress) == (False, None, False)
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert hub_settings({}).progress is True
    assert hub_settings({"HF_HUB_DISABLE_PROGRESS_BARS": "1"}).progress is False
    monkeypatch.setattr(sys, "stderr", io.StringIO())

    assert hub_settings({"HF_HOME": home}).cache_dir == f"{home}/hub"
    assert hub_settings({"HF_HOME": home, "HUGGINGFACE_HUB_CACHE": "/a"}).cache_dir == "/a"
    assert hub_settings({"HF_HUB_CACHE": "/b", "HUGGINGFACE_HUB_CACHE": "/a"}).cache_dir == "/b"
    assert hub_settings({"HF_ENDPOINT": "http://mirror:8080/"}).endpoint == "http://mirror:8080"
    assert hub_settings({"HUGGING_FACE_HUB_TOKEN": " hf_x "}).token == "hf_x"
    assert hub_settings({"HF_HUB_DISABLE_PROGRESS_BARS": "0"}).progress is True
    assert hub_settings({"HF_HUB_DISABLE_PROGRESS_BARS": "1"}).progress is False
    for value in ("1", "ON", "yes", "True"):
        assert hub_settings({"HF_HUB_OFFLINE": value}).offline
        assert hub_settings({"TRANSFORMERS_OFFLINE": value}).offline
    assert not hub_settings({"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"}).offline  # as the library reads it
