"""Files on the Hugging Face Hub: hf:// addresses, the local cache, and downloads.

huggingface_hub reads HF_ENDPOINT, HF_HOME, HF_HUB_CACHE and HF_HUB_OFFLINE once, when it
is imported. We read them from the environment at every call instead and pass them on
explicitly (endpoint=, cache_dir=, local_files_only=), so what a call does always follows
the environment it runs in. Tokens (HF_TOKEN, or `hf auth login`) are left to
huggingface_hub, which reads them per request.

Before a download, one HEAD request (no retries) asks the endpoint for the file and waits
at most FLOWRESTORE_HUB_TIMEOUT seconds (default 10) for an answer, so an endpoint that
accepts connections and never answers, or refuses them, fails in that time with a message
that names it, and "not found (404)" reads differently from "could not reach". Only then does
huggingface_hub download: its metadata request with the same timeout, the transfer with its own
HF_HUB_DOWNLOAD_TIMEOUT, and its retry warnings kept off the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from flowrestore.errors import HubError

SCHEME = "hf://"


@dataclass(frozen=True)
class HubFile:
    repo_id: str  # "owner/name"
    filename: str  # path inside the repository
    revision: str = "main"  # a branch, tag or (best, since immutable) a commit hash

    @classmethod
    def parse(cls, address: str) -> "HubFile":
        """hf://owner/repo/path/to/file.safetensors[@revision] -> HubFile."""
        if not address.startswith(SCHEME):
            raise HubError(f"{address!r} is not a hub address; write hf://owner/repo/path/to/file.safetensors@revision")
        rest = address[len(SCHEME) :]
        rest, _, revision = rest.rpartition("@") if "@" in rest else (rest, "", "")
        parts = rest.split("/")
        if len(parts) < 3 or not all(parts):
            raise HubError(
                f"{address!r} names no file; write hf://owner/repo/path/to/file.safetensors[@revision]"
            )
        return cls(repo_id="/".join(parts[:2]), filename="/".join(parts[2:]), revision=revision or "main")

    def __str__(self) -> str:
        return f"{SCHEME}{self.repo_id}/{self.filename}@{self.revision}"


DEFAULT_TIMEOUT = 10.0  # seconds to the first byte of an answer
TIMEOUT_VARIABLE = "FLOWRESTORE_HUB_TIMEOUT"


@dataclass(frozen=True)
class HubSettings:
    endpoint: str
    cache_dir: Path
    offline: bool
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_environment(cls) -> "HubSettings":
        """The settings huggingface_hub documents, read now rather than at its import."""
        env = os.environ
        xdg_cache = env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        home = env.get("HF_HOME") or os.path.join(xdg_cache, "huggingface")
        cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
        offline_flag = env.get("HF_HUB_OFFLINE") or env.get("TRANSFORMERS_OFFLINE") or ""
        offline = offline_flag.upper() in {"1", "ON", "YES", "TRUE"}
        endpoint = (env.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
        cache_dir = Path(os.path.expandvars(os.path.expanduser(cache)))
        return cls(endpoint=endpoint, cache_dir=cache_dir, offline=offline, timeout=_timeout(env.get(TIMEOUT_VARIABLE)))


def _timeout(text: str | None) -> float:
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (0 < value < float("inf")):
        raise HubError(f"{TIMEOUT_VARIABLE}={text!r} is not a number of seconds above 0; fix or unset it")
    return value


def cached(file: HubFile, settings: HubSettings | None = None) -> Path | None:
    """The file's path in the local Hugging Face cache, or None; never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    settings = settings or HubSettings.from_environment()
    found = try_to_load_from_cache(
        file.repo_id, file.filename, cache_dir=settings.cache_dir, revision=file.revision
    )
    return Path(found) if isinstance(found, str) else None


def _quiet_progress():
    from tqdm.auto import tqdm

    class Quiet(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Quiet


def fetch(file: HubFile, settings: HubSettings | None = None, show_progress: bool = False, force: bool = False) -> Path:
    """The file from the local cache if it is there (and not `force`), else downloaded into it
    (unless offline)."""
    settings = settings or HubSettings.from_environment()
    hit = None if force else cached(file, settings)
    if hit is not None:
        return hit
    if settings.offline:
        raise HubError(
            f"{file} is not in the Hugging Face cache ({settings.cache_dir}) and HF_HUB_OFFLINE is set; "
            "download it once while online (flowrestore checkpoints download)"
        )
    probe(file, settings)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        with _quiet_warnings():
            path = hf_hub_download(
                file.repo_id,
                file.filename,
                revision=file.revision,
                cache_dir=settings.cache_dir,
                endpoint=settings.endpoint,
                force_download=force,
                etag_timeout=settings.timeout,
                tqdm_class=None if show_progress else _quiet_progress(),
            )
    except GatedRepoError as e:
        raise HubError(f"{file.repo_id} is gated; accept its terms on the Hub and set HF_TOKEN") from e
    except RepositoryNotFoundError as e:
        raise HubError(
            f"repository {file.repo_id} not found at {settings.endpoint} (or private); check the name or set HF_TOKEN"
        ) from e
    except RevisionNotFoundError as e:
        raise HubError(f"revision {file.revision!r} not found in {file.repo_id}; check the revision") from e
    except LocalEntryNotFoundError as e:  # raised when the Hub cannot be reached and nothing is cached
        raise HubError(
            f"could not reach {settings.endpoint} to download {file}; check the connection or HF_ENDPOINT"
        ) from e
    except EntryNotFoundError as e:
        raise HubError(f"{file.filename} not found in {file.repo_id}@{file.revision}; check the file name") from e
    except HFValidationError as e:
        raise HubError(f"{file} is not a valid hub address ({_one_line(e)})") from e
    except (HfHubHTTPError, OSError) as e:
        raise HubError(
            f"could not download {file} from {settings.endpoint} ({_one_line(e)}); check the connection or HF_ENDPOINT"
        ) from e
    except Exception as e:  # httpx's network errors are not OSErrors
        if type(e).__module__.split(".")[0] not in {"httpx", "httpx2", "httpcore"}:
            raise
        raise HubError(
            f"could not reach {settings.endpoint} to download {file} ({_one_line(e)}); "
            "check the connection or HF_ENDPOINT"
        ) from e
    return Path(path)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return (text[:200] + "...") if len(text) > 200 else text or type(error).__name__


@contextlib.contextmanager
def _quiet_warnings():
    """huggingface_hub logs a warning per retry ("Retrying in 1s"); the error that follows says it all."""
    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect (to the file's CDN) already proves that the endpoint answers


def probe(file: HubFile, settings: HubSettings) -> None:
    """One HEAD request for the file, no retries, at most `settings.timeout` s to an answer;
    HubError saying "not found (404)", "refused", or "could not reach" when it fails."""
    from huggingface_hub.utils import build_hf_headers

    url = f"{settings.endpoint}/{file.repo_id}/resolve/{quote(file.revision, safe='')}/{quote(file.filename)}"
    request = urllib.request.Request(url, method="HEAD", headers=build_hf_headers())
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(request, timeout=settings.timeout).close()
    except urllib.error.HTTPError as e:
        if e.code < 400:
            return  # a redirect
        raise HubError(_http_message(file, settings, e.code, e.headers.get("X-Error-Code", ""))) from None
    except (TimeoutError, socket.timeout) as e:
        raise HubError(
            f"could not reach {settings.endpoint} to download {file}: no answer within {settings.timeout:g} s; "
            f"check the connection or HF_ENDPOINT (or set {TIMEOUT_VARIABLE} to wait longer)"
        ) from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise HubError(
                f"could not reach {settings.endpoint} to download {file}: no answer within {settings.timeout:g} s; "
                f"check the connection or HF_ENDPOINT (or set {TIMEOUT_VARIABLE} to wait longer)"
            ) from e
        raise HubError(
            f"could not reach {settings.endpoint} to download {file} ({_one_line(reason)}); "
            "check the connection or HF_ENDPOINT"
        ) from e


def _http_message(file: HubFile, settings: HubSettings, code: int, error_code: str) -> str:
    if error_code == "RepoNotFound":
        return (f"repository {file.repo_id} not found at {settings.endpoint} (HTTP {code}; or private: "
                "check the name or set HF_TOKEN)")
    if error_code == "RevisionNotFound":
        return f"revision {file.revision!r} not found in {file.repo_id} (HTTP {code}); check the revision"
    if error_code == "EntryNotFound" or code == 404:
        return f"{file.filename} not found in {file.repo_id}@{file.revision} (HTTP {code}); check the file name"
    if error_code == "GatedRepo" or code in (401, 403):
        return f"{file} needs access rights (HTTP {code}); accept its terms on the Hub and set HF_TOKEN"
    return f"{settings.endpoint} answered HTTP {code} for {file}; try again later or check HF_ENDPOINT"
