"""OpenML data sets, tasks and suites through the `openml` client, from its cache when offline.

Sources: `openml:ID` is a data set (the harness seals its own split); `openml:task/ID` is a task:
its data set, its target and its official train/test splits (`auditor.data.split.official`).
`suite_tasks` lists an OpenML suite's tasks for the pipeline to expand.

Settings (`auditor.config.settings.Settings`, from `--openml-cache`, `--offline` and
`--openml-server` or their `AUDITOR_*` variables):

- `openml_cache`: the cache root (default: openml's own, e.g. ~/.cache/openml). openml keeps each
  server's files under `<root>/<host, reversed>/`, e.g. `<root>/org/openml/www/tasks/1882/`; suite
  listings, which openml does not cache, go to `suites/ID.json` beside them.
- `offline`: use only the cache; anything absent is an error naming its id.
- `openml_server`: the API URL (default: openml's configured server).

openml makes a new `requests.Session` for each request; while the client is configured, the
sessions it makes carry `_Adapter`: every request times out (`TIMEOUT_S`), and a dropped
connection or a 5xx answer is tried `RETRIES` times in all (`urllib3.Retry`). Unknown ids, server
errors, unreachable servers and unreadable cache files each become one `UsageError` line.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import traceback
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, cast
from xml.parsers.expat import ExpatError

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3.util.retry import Retry

from adapters.contract import TaskType
from adapters.protocol import write_atomic
from auditor.config.errors import UsageError
from auditor.config.settings import CACHE_VAR, Settings
from auditor.data.dataset import OpenMLOrigin, RawTable

TIMEOUT_S = (10.0, 30.0)  # connect, read
RETRIES = 2  # tries of a request whose connection drops or that gets a 5xx answer
# OpenML's error codes for an id it does not know: data set, task, study
UNKNOWN_CODES = {111, 151, 601}
# supervised classification, supervised regression
_TASK_TYPES: dict[int, TaskType | None] = {1: None, 2: "regression"}
_SKIP_PARQUET = "OPENML_SKIP_PARQUET"


# the types of `requests.adapters.BaseAdapter.send`'s timeout and cert
_Timeout = float | tuple[float, float] | tuple[float, None] | None
_Cert = bytes | str | tuple[bytes | str, bytes | str] | None


class _NotCached(Exception):
    """A request that offline mode refused."""


class _Adapter(HTTPAdapter):
    """openml's requests carry no timeout, and a 5xx page that parses as XML confuses it: give
    each a timeout, and retry dropped connections and 5xx answers, then raise."""

    def __init__(self) -> None:
        super().__init__(max_retries=Retry(total=RETRIES - 1, read=False, backoff_factor=1,
                                           status_forcelist=range(500, 600)))

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: _Timeout = None, verify: bool | str = True, cert: _Cert = None,
             proxies: Mapping[str, str] | None = None) -> requests.Response:
        return super().send(request, stream=stream, timeout=timeout or TIMEOUT_S,
                            verify=verify, cert=cert, proxies=proxies)


class _Offline(BaseAdapter):
    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: _Timeout = None, verify: bool | str = True, cert: _Cert = None,
             proxies: Mapping[str, str] | None = None) -> requests.Response:
        raise _NotCached(request.url)

    def close(self) -> None:
        pass


def _session_for(offline: bool) -> Any:
    """A `requests.Session` factory whose sessions refuse (offline) or bound every request."""

    def session() -> requests.Session:
        made = requests.Session()
        for prefix in ("http://", "https://"):
            made.mount(prefix, _Offline() if offline else _Adapter())
        return made

    return session


@contextmanager
def _client(settings: Settings) -> Iterator[ModuleType]:
    """The openml module, configured from `settings` for the duration of the block."""
    import openml
    from openml import _api_calls

    cfg = openml.config
    saved = (cfg.server, cfg.get_config_as_dict()["cachedir"], cfg.connection_n_retries,
             _api_calls.requests)
    if settings.openml_cache:
        root = settings.openml_cache.expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise UsageError(f"OpenML cache {root} is not a folder — give a folder with "
                             f"--openml-cache or {CACHE_VAR}")
        cfg.set_root_cache_directory(root)
    cfg.server = settings.openml_server or cfg.server
    cfg.connection_n_retries = 1  # the adapter retries
    # the name `requests` in openml's request module only (a namespace standing in for the
    # module): the library itself stays as it is
    _api_calls.requests = cast(ModuleType, SimpleNamespace(
        **vars(requests) | {"Session": _session_for(settings.offline)}))
    try:
        with warnings.catch_warnings():  # the client's deprecation and resource warnings
            warnings.simplefilter("ignore")
            yield openml
    finally:
        cfg.server, root, cfg.connection_n_retries, _api_calls.requests = saved
        cfg.set_root_cache_directory(root)


@contextmanager
def _fetching(openml: ModuleType, what: str, folder: str) -> Iterator[None]:
    """Turn what the client raises while fetching `what` (cached in `folder`) into one line."""
    try:
        yield
    except UsageError:
        raise
    except Exception as exc:
        problem = _problem(openml, exc, what, folder)
        if problem is None:
            raise
        # the client's frames hold open files: let them go now, while its warnings are muted
        traceback.clear_frames(exc.__traceback__)
        raise UsageError(problem) from None


def _problem(openml: ModuleType, exc: Exception, what: str, folder: str) -> str | None:
    import arff
    from openml import exceptions as oml

    server = openml.config.server
    cache = Path(openml.config.get_cache_directory())
    retry = "try again later, or use --offline with a filled cache"
    if isinstance(exc, _NotCached):
        return (f"offline: {what} is not in the OpenML cache {cache} (missing {exc}) — run once "
                "without --offline to fetch it")
    if isinstance(exc, oml.OpenMLServerException) and exc.code in UNKNOWN_CODES:
        return (f"{what} does not exist on the OpenML server {server} ({exc.message}, code "
                f"{exc.code}) — check the id")
    if isinstance(exc, oml.OpenMLPrivateDatasetError):
        return f"{what} is private on {server} — set an OpenML API key with access, or pick another"
    if isinstance(exc, requests.exceptions.RetryError | oml.OpenMLServerError):
        status = re.search(r"Status code: (\d+)|too many (\d+) error", str(exc))
        detail = f"HTTP {status[1] or status[2]}" if status else _one_line(str(exc))[:160]
        return f"the OpenML server {server} failed while fetching {what} ({detail}) — {retry}"
    if isinstance(exc, requests.Timeout):
        return (f"the OpenML server {server} did not answer within {TIMEOUT_S[1]:g} s while "
                f"fetching {what} — {retry}")
    if isinstance(exc, requests.RequestException):
        reason = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
        return (f"cannot reach the OpenML server {server} to fetch {what} "
                f"({reason[1] if reason else type(exc).__name__}) — check the network and "
                f"--openml-server, or use --offline with a filled cache")
    if isinstance(exc, oml.OpenMLHashException):
        return f"the download of {what} did not match its checksum — {retry}"
    if isinstance(exc, PermissionError | NotADirectoryError | FileExistsError):
        return f"cannot use the OpenML cache for {what}: {exc} — fix the folder or --openml-cache"
    if isinstance(exc, pickle.UnpicklingError | EOFError | arff.ArffException | ExpatError
                  | UnicodeDecodeError | oml.OpenMLCacheException | KeyError | ValueError):
        return (f"a cached file of {what} is corrupt ({type(exc).__name__}: "
                f"{_one_line(str(exc))[:160]}) — delete {cache / folder} and run again")
    return None


def load_openml(spec: str, settings: Settings) -> RawTable:
    """`ID` (a data set) or `task/ID` (a task) as a RawTable with its OpenML origin."""
    kind, _, number = spec.rpartition("/")
    if kind not in ("", "task") or not number.isdigit() or int(number) == 0:
        raise UsageError(f"bad OpenML source 'openml:{spec}' — write openml:ID for a data set or "
                         "openml:task/ID for a task, e.g. openml:task/1882")
    with _client(settings) as openml:
        if kind == "task":
            return _task_table(openml, int(number), settings.offline)
        return _dataset_table(openml, int(number), settings.offline)


def _dataset_table(openml: ModuleType, dataset_id: int, offline: bool) -> RawTable:
    what = f"OpenML dataset {dataset_id}"
    folder = f"datasets/{dataset_id}"
    pq = Path(openml.config.get_cache_directory()) / folder / f"dataset_{dataset_id}.pq"
    # offline, openml must not try the parquet copy (fetched outside requests) unless cached
    skip_parquet = offline and not pq.is_file()
    with _fetching(openml, what, folder), _environ(_SKIP_PARQUET, "true" if skip_parquet else None):
        dataset = openml.datasets.get_dataset(dataset_id, download_data=True)
        frame, *_ = dataset.get_data(dataset_format="dataframe")
    target = dataset.default_target_attribute
    return RawTable(frame, f"openml:{dataset_id}",
                    target if target and "," not in target else None,
                    openml=OpenMLOrigin(dataset_id, int(dataset.version)))


def _task_table(openml: ModuleType, task_id: int, offline: bool) -> RawTable:
    what = f"OpenML task {task_id}"
    with _fetching(openml, what, f"tasks/{task_id}"):
        task = openml.tasks.get_task(task_id, download_splits=True)
        repeats, folds, _ = task.get_split_dimensions()
    kind = task.task_type_id.value
    if kind not in _TASK_TYPES:
        raise UsageError(f"{what} is a {task.task_type} task; the auditor runs supervised "
                         "classification and regression tasks — pick another task")
    table = _dataset_table(openml, task.dataset_id, offline)
    assert table.openml is not None  # _dataset_table always sets it
    origin = replace(table.openml, task_id=task_id, n_repeats=repeats, n_folds=folds, task=task)
    return replace(table, source=f"openml:task/{task_id}", default_target=task.target_name,
                   default_task=_TASK_TYPES[kind], openml=origin)


def suite_tasks(suite_id: int, settings: Settings, limit: int | None = None,
                max_rows: int | None = None) -> list[tuple[int, str]]:
    """(task id, data set name) of the suite's tasks in suite order: those whose data set has at
    most `max_rows` rows, at most `limit` of them."""
    chosen: list[tuple[int, str]] = []
    with _client(settings) as openml:
        for task_id in _suite_listing(openml, suite_id, settings.offline):
            if limit is not None and len(chosen) >= limit:
                break
            with _fetching(openml, f"OpenML task {task_id} of suite {suite_id}",
                           f"tasks/{task_id}"):
                task = openml.tasks.get_task(task_id)
                dataset = openml.datasets.get_dataset(task.dataset_id,
                                                      download_qualities=max_rows is not None)
                rows = dataset.qualities.get("NumberOfInstances") if max_rows else None
            if rows is None or rows <= max_rows:
                chosen.append((task_id, dataset.name))
    return chosen


def _suite_listing(openml: ModuleType, suite_id: int, offline: bool) -> list[int]:
    """The suite's task ids: from the server, kept in the cache for offline use."""
    path = Path(openml.config.get_cache_directory()) / "suites" / f"{suite_id}.json"
    what = f"OpenML suite {suite_id}"
    if offline:
        if not path.is_file():
            raise UsageError(f"offline: {what} is not in the OpenML cache ({path} is missing) — "
                             "run once without --offline to list it")
        try:
            return [int(t) for t in json.loads(path.read_text(encoding="utf-8"))["tasks"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"the cached listing of {what} is corrupt ({_one_line(str(exc))}) "
                             f"— delete {path} and run again without --offline") from None
    with _fetching(openml, what, "suites"):
        suite = openml.study.get_suite(suite_id)
    tasks = [int(t) for t in suite.tasks or []]
    write_atomic(path, json.dumps({"id": suite_id, "name": suite.name, "tasks": tasks}))
    return tasks


@contextmanager
def _environ(name: str, value: str | None) -> Iterator[None]:
    """Set an environment variable for the block (None: leave it as it is)."""
    saved = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _one_line(text: str) -> str:
    return " ".join(text.split())
