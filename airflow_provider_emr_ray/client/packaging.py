"""Local code packaged exactly as Ray 2.60 packages it for the Jobs API (no ``ray`` import).

A local ``working_dir`` directory, or a local ``py_modules`` entry (a directory, a ``.py`` file or
a ``.whl`` file), is zipped and named as Ray's ``JobSubmissionClient`` names it
(``ray/_private/runtime_env/packaging.py``): ``gcs://_ray_pkg_<hash>.zip`` with the same
content hash (:func:`uri_for_directory`: SHA-1 of each path and file, XOR-folded), the same
traversal (``.gitignore`` unless ``RAY_RUNTIME_ENV_IGNORE_GITIGNORE=1``, ``.rayignore``,
``runtime_env["excludes"]``, and for a ``working_dir`` Ray's default excludes ``.git``,
``.venv``, ``venv`` and ``__pycache__``, overridable with
``RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES``), the same zip entries (stored, uncompressed).
A local archive given as ``working_dir`` (``.zip``, ``.tar.gz``, ``.tgz``, ``.tar.xz``) and a
``.whl`` are uploaded as they are, named as Ray names them. The same name means a package
uploaded by Ray's own client is found and not uploaded again (and the other way round).

Ignore files are matched with Ray's (vendored pathspec 0.8.1) ``gitwildmatch`` rules, written
out here (:func:`_pattern_regex`): the ``pathspec`` release installed next to Airflow differs.

:func:`prepare_runtime_env` replaces local paths by their ``gcs://`` URIs and returns the
:class:`LocalPackage` objects to upload; URIs (``oss://``, ``https://``, ``gcs://``, ``s3://``,
…) are left untouched. :meth:`LocalPackage.build` streams the zip to a temporary file (the
folder is never held in memory) and refuses, before any upload, a package at or above Ray's
limit (:data:`GCS_STORAGE_MAX_SIZE`, Ray's ``GRPC_CPP_MAX_MESSAGE_SIZE``, 512 MiB).

Standard library only; every function here does blocking file I/O (the async hook runs them in
a worker thread).
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_emr_ray.exceptions import EmrRayValidationError

__all__ = [
    "GCS_STORAGE_MAX_SIZE",
    "LocalPackage",
    "check_runtime_env",
    "is_uri",
    "package_for_path",
    "prepare_runtime_env",
    "uri_for_directory",
    "uri_for_file",
    "uri_for_package_file",
]

#: Ray's largest package (``GCS_STORAGE_MAX_SIZE``: ``RAY_max_grpc_message_size``, else 512 MiB).
GCS_STORAGE_MAX_SIZE = int(os.environ.get("RAY_max_grpc_message_size", 512 * 1024 * 1024))
RAY_PKG_PREFIX = "_ray_pkg_"
#: Ray's default excludes of a working_dir (``RAY_RUNTIME_ENV_DEFAULT_EXCLUDES``).
DEFAULT_EXCLUDES = ".git,.venv,venv,__pycache__"
#: Archives Ray accepts as a local ``working_dir`` file.
WORKING_DIR_ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar.xz")
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CHUNK = 4096 * 1024


def is_uri(value: str) -> bool:
    """Whether ``value`` is a URI (``scheme://…``) rather than a local path."""
    return bool(_URI_RE.match(value))


def default_excludes() -> list[str]:
    """Ray's ``get_runtime_env_default_excludes()``."""
    value = os.environ.get("RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES", DEFAULT_EXCLUDES)
    return [x.strip() for x in value.split(",") if x.strip()]


def include_gitignore() -> bool:
    """Ray's rule: ``.gitignore`` files count unless ``RAY_RUNTIME_ENV_IGNORE_GITIGNORE=1``."""
    return os.environ.get("RAY_RUNTIME_ENV_IGNORE_GITIGNORE", "0") != "1"


# ------------------------------------------------------------------------- gitwildmatch (Ray's)


def _segment_glob(pattern: str) -> str:
    escape = False
    regex = ""
    i, end = 0, len(pattern)
    while i < end:
        char = pattern[i]
        i += 1
        if escape:
            escape = False
            regex += re.escape(char)
        elif char == "\\":
            escape = True
        elif char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[":
            j = i
            if j < end and pattern[j] == "!":
                j += 1
            if j < end and pattern[j] == "]":
                j += 1
            while j < end and pattern[j] != "]":
                j += 1
            if j < end:
                j += 1
                expr = "["
                if pattern[i] == "!":
                    expr += "^"
                    i += 1
                elif pattern[i] == "^":
                    expr += "\\^"
                    i += 1
                expr += pattern[i:j].replace("\\", "\\\\")
                regex += expr
                i = j
            else:
                regex += "\\["
        else:
            regex += re.escape(char)
    return regex


def _pattern_regex(pattern: str) -> tuple[str | None, bool | None]:
    """One ignore line as ``(regex, include)`` (``include`` None: not a pattern)."""
    pattern = pattern.strip()
    if pattern.startswith("#") or pattern == "/" or not pattern:
        return None, None
    include = True
    if pattern.startswith("!"):
        include = False
        pattern = pattern[1:]
    if pattern.startswith("\\"):
        pattern = pattern[1:]
    segs = pattern.split("/")
    if not segs[0]:
        del segs[0]
    elif len(segs) == 1 or (len(segs) == 2 and not segs[1]):
        if segs[0] != "**":
            segs.insert(0, "**")
    if not segs[-1] and len(segs) > 1:
        segs[-1] = "**"
    out = ["^"]
    need_slash = False
    end = len(segs) - 1
    for i, seg in enumerate(segs):
        if seg == "**":
            if i == 0 and i == end:
                out.append(".+")
            elif i == 0:
                out.append("(?:.+/)?")
                need_slash = False
            elif i == end:
                out.append("/.*")
            else:
                out.append("(?:/.+)?")
                need_slash = True
        elif seg == "*":
            if need_slash:
                out.append("/")
            out.append("[^/]+")
            need_slash = True
        else:
            if need_slash:
                out.append("/")
            out.append(_segment_glob(seg))
            if i == end and include is True:
                out.append("(?:/.*)?")
            need_slash = True
    out.append("$")
    return "".join(out), include


def _spec(lines: list[str]) -> Callable[[str], bool]:
    compiled = []
    for line in lines:
        if line:
            regex, include = _pattern_regex(line)
            if include is not None and regex is not None:
                compiled.append((re.compile(regex), include))

    def match(path: str) -> bool:
        if path.startswith("./"):
            path = path[2:]
        matched = False
        for regex, include in compiled:
            if regex.match(path) is not None:
                matched = include
        return matched

    return match


def _excludes_matcher(root: Path, excludes: list[str]) -> Callable[[Path], bool]:
    root = root.absolute()
    spec = _spec(list(excludes))
    return lambda p: spec(str(p.absolute().relative_to(root)))


def _ignore_file_matcher(directory: Path, name: str) -> Callable[[Path], bool] | None:
    directory = directory.absolute()
    ignore = directory / name
    if not ignore.is_file():
        return None
    with ignore.open("r") as f:
        spec = _spec(f.readlines())
    return lambda p: spec(str(p.absolute().relative_to(directory)))


def _travel(path: Path, excludes: list[Callable[[Path], bool]], handler: Callable[[Path], None], gitignore: bool) -> None:
    """Ray's ``_dir_travel`` (iteratively deep, same order, same rules)."""
    new: list[Callable[[Path], bool]] = []
    if gitignore:
        g = _ignore_file_matcher(path, ".gitignore")
        if g is not None:
            new.append(g)
    r = _ignore_file_matcher(path, ".rayignore")
    if r is not None:
        new.append(r)
    excludes.extend(new)
    if not any(e(path) for e in excludes):
        handler(path)
        if path.is_dir():
            for sub in path.iterdir():
                _travel(sub, excludes, handler, gitignore)
    for _ in range(len(new)):
        excludes.pop()


def _entry_hash(path: Path, relative_to: Path) -> bytes:
    sha1 = hashlib.sha1()
    sha1.update(str(path.relative_to(relative_to)).encode())
    if not path.is_dir():
        try:
            f = path.open("rb")
        except Exception:  # Ray skips the content of a file it cannot open (a dangling link)
            pass
        else:
            with f:
                while data := f.read(_CHUNK):
                    sha1.update(data)
    return sha1.digest()


def _xor(left: bytes, right: bytes) -> bytes:
    if left and right:
        return bytes(a ^ b for a, b in zip(left, right))
    return left or right


def uri_for_directory(directory: str | os.PathLike[str], excludes: list[str] | None = None, *,
                      gitignore: bool | None = None) -> str:  # fmt: skip
    """Ray's ``get_uri_for_directory(directory, include_gitignore, excludes)``.

    :param directory: an existing directory.
    :param excludes: gitwildmatch patterns relative to ``directory``.
    :param gitignore: whether ``.gitignore`` files count (default: Ray's environment rule).
    """
    root = Path(directory).absolute()
    if not root.is_dir():
        raise ValueError(f"directory {root} must be an existing directory")
    value = b"0" * 8

    def handler(path: Path) -> None:
        nonlocal value
        value = _xor(value, _entry_hash(path, root))

    use_gitignore = include_gitignore() if gitignore is None else gitignore
    _travel(root, [_excludes_matcher(root, list(excludes or []))], handler, use_gitignore)
    return f"gcs://{RAY_PKG_PREFIX}{value.hex()}.zip"


def uri_for_file(file: str | os.PathLike[str]) -> str:
    """Ray's ``get_uri_for_file`` (a single ``.py`` module)."""
    path = Path(file).absolute()
    if not path.is_file():
        raise ValueError(f"File {path} must be an existing file")
    return f"gcs://{RAY_PKG_PREFIX}{_xor(_entry_hash(path, path.parent), b'0' * 8).hex()}.zip"


def uri_for_package_file(file: str | os.PathLike[str]) -> str:
    """Ray's ``get_uri_for_package`` (a ``.whl`` keeps its name; an archive is named by its SHA-1)."""
    path = Path(file)
    if path.suffix == ".whl":
        return f"gcs://{path.name}"
    sha1 = hashlib.sha1()
    with path.open("rb") as f:
        while data := f.read(_CHUNK):
            sha1.update(data)
    if path.name.endswith(".tar.gz") or path.suffix == ".tgz":
        ext = ".tar.gz"
    elif path.name.endswith(".tar.xz"):
        ext = ".tar.xz"
    else:
        ext = ".zip"
    return f"gcs://{RAY_PKG_PREFIX}{sha1.hexdigest()}{ext}"


def _mib(size: int) -> str:
    return f"{size / 1024**2:.2f} MiB"


@dataclass(frozen=True)
class LocalPackage:
    """One local path to upload under ``uri``.

    :param uri: the ``gcs://`` URI Ray names it by.
    :param path: the local directory or file.
    :param field: the runtime_env field it came from (``runtime_env.py_modules[1]``), for errors.
    :param excludes: gitwildmatch excludes (directories and ``.py`` files).
    :param zipped: whether it is zipped here (False: an archive or wheel sent as it is).
    :param include_parent_dir: whether the zip holds the directory itself (py_modules).
    :param gitignore: whether ``.gitignore`` files count.
    """

    uri: str
    path: str
    field: str
    excludes: tuple[str, ...] = ()
    zipped: bool = True
    include_parent_dir: bool = False
    gitignore: bool = True

    @property
    def name(self) -> str:
        """The package name in ``/api/packages/gcs/<name>``."""
        return self.uri.split("://", 1)[1]

    def build(self, temp_dir: str | None = None) -> tuple[str, int, bool]:
        """The file to upload: ``(path, size, temporary)``; a zip is written to a new temporary
        file (deleted by the caller when ``temporary``). Raises
        :class:`~airflow_provider_emr_ray.exceptions.EmrRayValidationError` naming the folder
        and its size when the package reaches :data:`GCS_STORAGE_MAX_SIZE`."""
        if not self.zipped:
            size = os.path.getsize(self.path)
            self._check_size(size)
            return self.path, size, False
        fd, target = tempfile.mkstemp(prefix="emr_ray_pkg_", suffix=".zip", dir=temp_dir)
        os.close(fd)
        try:
            self._check_size(self._content_size())  # a stored zip is never smaller: fail before writing it
            write_zip(self.path, target, list(self.excludes), gitignore=self.gitignore,
                      include_parent_dir=self.include_parent_dir)  # fmt: skip
            size = os.path.getsize(target)
            self._check_size(size)
        except BaseException:
            os.unlink(target)
            raise
        return target, size, True

    def _content_size(self) -> int:
        total = 0

        def handler(path: Path) -> None:
            nonlocal total
            if path.is_file():
                total += path.stat().st_size

        source = Path(self.path).absolute()
        _travel(source, [_excludes_matcher(source, list(self.excludes))], handler, self.gitignore)
        return total

    def _check_size(self, size: int) -> None:
        if size >= GCS_STORAGE_MAX_SIZE:
            raise EmrRayValidationError(
                self.field,
                f"{self.path} packs to {_mib(size)}, at or above Ray's package limit of "
                f"{_mib(GCS_STORAGE_MAX_SIZE)}: exclude large files (runtime_env 'excludes', .gitignore, "
                ".rayignore) or upload it to OSS and pass an oss:// URI",
            )


def write_zip(source: str, target: str, excludes: list[str], *, gitignore: bool, include_parent_dir: bool) -> None:
    """Ray's ``_zip_files``: the same entries, in the same order, stored (not compressed)."""
    from zipfile import ZipFile

    file_path = Path(source).absolute()
    dir_path = file_path.parent if file_path.is_file() else file_path
    with ZipFile(target, "w", strict_timestamps=False) as zf:

        def handler(path: Path) -> None:
            if (path.is_dir() and next(path.iterdir(), None) is None) or path.is_file():
                to_path = path.relative_to(dir_path)
                if include_parent_dir:
                    to_path = dir_path.name / to_path
                zf.write(path, to_path)

        _travel(file_path, [_excludes_matcher(file_path, excludes)], handler, gitignore)


def _excludes_of(runtime_env: Mapping[str, Any]) -> list[str]:
    excludes = runtime_env.get("excludes") or []
    if not isinstance(excludes, (list, tuple)) or not all(isinstance(e, str) for e in excludes):
        raise EmrRayValidationError("runtime_env.excludes", f"must be a list of strings, got {excludes!r}")
    return list(excludes)


def _local_path(field: str, value: Any) -> str | None:
    """``value`` as a local path (None for a URI); rejects what Ray rejects."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise EmrRayValidationError(field, f"must be a local path or a URI string, got {value!r}")
    if is_uri(value):
        return None
    if not os.path.exists(value):
        raise EmrRayValidationError(field, f"local path {value!r} does not exist (or give a URI such as oss://bucket/code.zip)")
    return value


def check_runtime_env(runtime_env: Mapping[str, Any] | None) -> None:
    """The cheap checks of :func:`prepare_runtime_env` (types, paths exist), nothing hashed:
    a bad argument fails before any request."""
    if runtime_env is None:
        return
    if not isinstance(runtime_env, Mapping):
        raise EmrRayValidationError("runtime_env", f"must be a dict, got {type(runtime_env).__name__}")
    _excludes_of(runtime_env)
    if runtime_env.get("working_dir") is not None:
        _local_path("runtime_env.working_dir", runtime_env["working_dir"])
    py_modules = runtime_env.get("py_modules")
    if py_modules is not None:
        if not isinstance(py_modules, (list, tuple)):
            raise EmrRayValidationError("runtime_env.py_modules", f"must be a list, got {type(py_modules).__name__}")
        for index, module in enumerate(py_modules):
            _local_path(f"runtime_env.py_modules[{index}]", module)


def prepare_runtime_env(runtime_env: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, list[LocalPackage]]:
    """``runtime_env`` with every local ``working_dir`` / ``py_modules`` path replaced by the
    ``gcs://`` URI Ray gives it, and the packages to upload (each once). The input is not changed.

    :param runtime_env: a Ray runtime_env dict, or None.
    :raises ~airflow_provider_emr_ray.exceptions.EmrRayValidationError: naming the field
        (``runtime_env.working_dir``, ``runtime_env.py_modules[1]``) of a missing or unsupported path.
    """
    if runtime_env is None:
        return None, []
    if not isinstance(runtime_env, Mapping):
        raise EmrRayValidationError("runtime_env", f"must be a dict, got {type(runtime_env).__name__}")
    env = copy.deepcopy(dict(runtime_env))
    packages: dict[str, LocalPackage] = {}
    gitignore = include_gitignore()
    user_excludes = _excludes_of(env)

    working_dir = env.get("working_dir")
    if working_dir is not None:
        field = "runtime_env.working_dir"
        path = _local_path(field, working_dir)
        if path is not None:
            if os.path.isdir(path):
                excludes = default_excludes() + user_excludes
                pkg = LocalPackage(uri_for_directory(path, excludes, gitignore=gitignore), path, field,
                                   tuple(excludes), gitignore=gitignore)  # fmt: skip
            elif path.endswith(WORKING_DIR_ARCHIVES):
                pkg = LocalPackage(uri_for_package_file(path), path, field, zipped=False)
            else:
                raise EmrRayValidationError(
                    field, f"{path!r} must be a directory or an archive ({', '.join(WORKING_DIR_ARCHIVES)})"
                )
            packages.setdefault(pkg.uri, pkg)
            env["working_dir"] = pkg.uri

    py_modules = env.get("py_modules")
    if py_modules is not None:
        if not isinstance(py_modules, (list, tuple)):
            raise EmrRayValidationError("runtime_env.py_modules", f"must be a list, got {type(py_modules).__name__}")
        uris = []
        for index, module in enumerate(py_modules):
            field = f"runtime_env.py_modules[{index}]"
            path = _local_path(field, module)
            if path is None:
                uris.append(module)
                continue
            if os.path.isdir(path):
                pkg = LocalPackage(uri_for_directory(path, user_excludes, gitignore=gitignore), path, field,
                                   tuple(user_excludes), include_parent_dir=True, gitignore=gitignore)  # fmt: skip
            elif Path(path).suffix == ".py":
                pkg = LocalPackage(uri_for_file(path), path, field, tuple(user_excludes), gitignore=gitignore)
            elif Path(path).suffix == ".whl":
                pkg = LocalPackage(uri_for_package_file(path), path, field, zipped=False)
            else:
                raise EmrRayValidationError(field, f"{path!r} must be a directory, a .py file or a .whl file")
            packages.setdefault(pkg.uri, pkg)
            uris.append(pkg.uri)
        env["py_modules"] = uris
    return env, list(packages.values())


def package_for_path(path: str | os.PathLike[str], excludes: list[str] | None = None, *, field: str = "path") -> LocalPackage:
    """The package of one local path, as :meth:`~airflow_provider_emr_ray.hooks.emr_ray.EmrRayHook.ray_upload_package`
    uploads it: a directory as a ``working_dir`` (Ray's default excludes plus ``excludes``), an
    archive or a wheel as it is, a ``.py`` file as a module."""
    local = _local_path(field, path)
    if local is None:
        raise EmrRayValidationError(field, f"must be a local path, got the URI {path!r}")
    if excludes is not None and (not isinstance(excludes, (list, tuple)) or not all(isinstance(e, str) for e in excludes)):
        raise EmrRayValidationError("excludes", f"must be a list of strings, got {excludes!r}")
    gitignore = include_gitignore()
    if os.path.isdir(local):
        ex = default_excludes() + list(excludes or [])
        return LocalPackage(uri_for_directory(local, ex, gitignore=gitignore), local, field, tuple(ex), gitignore=gitignore)
    if local.endswith(WORKING_DIR_ARCHIVES) or local.endswith(".whl"):
        return LocalPackage(uri_for_package_file(local), local, field, zipped=False)
    if local.endswith(".py"):
        return LocalPackage(uri_for_file(local), local, field, tuple(excludes or []), gitignore=gitignore)
    raise EmrRayValidationError(field, f"{local!r} must be a directory, an archive, a .whl or a .py file")
