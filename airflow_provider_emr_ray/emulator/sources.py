"""Job code: where an entrypoint's working directory comes from.

* SubmitRayJob's ``workingDir`` is a URL, as the service reads it (``oss://bucket/key``, e.g.
  ``oss://mybucket/rayjob.zip``). The emulator has no OSS: with ``EmulatorConfig.oss_root``
  (CLI ``--oss-root DIR``) ``oss://bucket/key`` is ``DIR/bucket/key``, a directory (copied) or a
  zip file (unpacked; a single top-level folder is stripped, as Ray does for remote zips). A
  local path (``/x``, ``./x``, ``file://``) fails the job: the service cannot see the caller's
  disk. ``http(s)://`` is not downloaded (the emulator stays offline) and fails the job too.
* Ray's Jobs API packages (``gcs://_ray_pkg_<hash>.zip``, uploaded through
  ``PUT /api/packages/...``) are zip files unpacked as they are.

Standard library only.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath

__all__ = ["SourceError", "materialize_working_dir", "unpack_zip"]


class SourceError(Exception):
    """The job's code cannot be fetched; the message says why (shown in the job's message)."""


def unpack_zip(archive: Path, dest: Path, *, strip_single_top: bool = False) -> None:
    """Unpack ``archive`` into ``dest`` (refusing members that would escape it)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n and not n.startswith("__MACOSX/")]
            tops = {PurePosixPath(n).parts[0] for n in names if PurePosixPath(n).parts}
            strip = strip_single_top and len(tops) == 1 and all(n != next(iter(tops)) for n in names)
            dest.mkdir(parents=True, exist_ok=True)
            root = dest.resolve()
            for info in zf.infolist():
                parts = PurePosixPath(info.filename).parts
                if not parts or parts[0] == "__MACOSX":
                    continue
                if strip:
                    parts = parts[1:]
                    if not parts:
                        continue
                target = (dest.joinpath(*parts)).resolve()
                if target != root and root not in target.parents:
                    raise SourceError(f"zip member {info.filename!r} escapes the working directory")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    target.chmod(mode | 0o600)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceError(f"{archive.name} is not a readable zip file ({exc})") from exc


def _oss_path(url: str, oss_root: str | None) -> Path:
    rest = url[len("oss://") :]
    bucket, _, key = rest.partition("/")
    if not bucket or not key.strip("/"):
        raise SourceError(f"workingDir {url!r} names no object (expected oss://bucket/key)")
    if oss_root is None:
        raise SourceError(
            f"OSS object {url} cannot be read: the emulator has no OSS "
            "(start it with --oss-root DIR / EmulatorConfig.oss_root to map oss://bucket/key to DIR/bucket/key)"
        )
    root = Path(oss_root).resolve()
    path = (root / bucket / key.strip("/")).resolve()
    if root not in path.parents:
        raise SourceError(f"workingDir {url!r} escapes the OSS root")
    if not path.exists():
        raise SourceError(f"OSS object {url} does not exist")
    return path


def materialize_working_dir(url: str, dest: Path, *, oss_root: str | None) -> None:
    """Fill ``dest`` (created) with the code at SubmitRayJob's ``workingDir`` ``url``.

    An empty ``url`` leaves ``dest`` empty. Raises :class:`SourceError` when the service would
    not find the code.
    """
    dest.mkdir(parents=True, exist_ok=True)
    url = (url or "").strip()
    if not url:
        return
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "oss":
        path = _oss_path(url, oss_root)
        if path.is_dir():
            shutil.copytree(path, dest, dirs_exist_ok=True)
        elif zipfile.is_zipfile(path):
            unpack_zip(path, dest, strip_single_top=True)
        else:
            raise SourceError(f"OSS object {url} is neither a folder nor a zip file")
        return
    if scheme in ("http", "https"):
        raise SourceError(f"workingDir {url} is not downloaded by the emulator (offline); use oss:// with --oss-root")
    if scheme in ("", "file"):
        raise SourceError(
            f"workingDir {url!r} is a local path, which the service cannot read: "
            "give a URL such as oss://bucket/code.zip (the emulator maps oss:// with --oss-root)"
        )
    raise SourceError(f"workingDir {url!r} has an unsupported scheme {scheme!r} (expected oss://)")
