"""Our packaging against Ray 2.60's own (the oracle): the same gcs:// names, the same zip entries."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from airflow_provider_emr_ray.client import packaging as ours
from airflow_provider_emr_ray.exceptions import EmrRayValidationError
from tests.ray_oracle import require


def _tree(root: Path) -> Path:
    (root / "a" / "b").mkdir(parents=True)
    (root / "empty_dir").mkdir()
    for d in (".git", "__pycache__", "build", "venv"):
        (root / d).mkdir()
        (root / d / "x").write_text(d)
    (root / "main.py").write_text("print('hi')\n")
    (root / "a" / "empty.txt").write_text("")
    (root / "a" / "b" / "c.log").write_text("log\n")
    (root / "a" / "keep.log").write_text("keep\n")
    (root / "a" / "[x].txt").write_text("bracket\n")
    (root / ".gitignore").write_text("# comment\n*.log\nbuild/\n!keep.log\n\n")
    (root / "a" / ".rayignore").write_text("b\n")
    os.symlink("main.py", root / "link.py")
    os.symlink("a", root / "alink")
    os.symlink("nowhere", root / "dangling")
    return root


EXCLUDES = [[], [".git", "__pycache__"], ["*.py", "a/"], ["/main.py", "a/**/keep.log"], ["**/empty*", "\\[x].txt"], ["venv", "!venv"]]


@pytest.mark.parametrize("excludes", EXCLUDES)
@pytest.mark.parametrize("gitignore", [True, False])
def test_directory_uri_is_rays(tmp_path, excludes, gitignore):
    packaging = require("ray._private.runtime_env.packaging")
    root = _tree(tmp_path / "code")
    assert ours.uri_for_directory(root, excludes, gitignore=gitignore) == packaging.get_uri_for_directory(
        str(root), gitignore, excludes=list(excludes)
    )


@pytest.mark.parametrize("include_parent_dir", [False, True])
def test_zip_entries_are_rays(tmp_path, include_parent_dir):
    packaging = require("ray._private.runtime_env.packaging")
    root = _tree(tmp_path / "code")
    excludes = ["venv"]
    packaging.create_package(str(root), tmp_path / "ray.zip", include_gitignore=True,
                             include_parent_dir=include_parent_dir, excludes=excludes)  # fmt: skip
    ours.write_zip(str(root), str(tmp_path / "ours.zip"), excludes, gitignore=True, include_parent_dir=include_parent_dir)
    with zipfile.ZipFile(tmp_path / "ray.zip") as a, zipfile.ZipFile(tmp_path / "ours.zip") as b:
        assert a.namelist() == b.namelist()
        assert [a.read(n) for n in a.namelist() if not n.endswith("/")] == [b.read(n) for n in b.namelist() if not n.endswith("/")]
        assert {i.compress_type for i in b.infolist()} == {zipfile.ZIP_STORED}


def test_file_and_package_uris_are_rays(tmp_path):
    packaging = require("ray._private.runtime_env.packaging")
    (tmp_path / "m.py").write_text("X = 1\n")
    (tmp_path / "w-1.0-py3-none-any.whl").write_bytes(b"PK fake wheel")
    (tmp_path / "code.tgz").write_bytes(b"\x1f\x8b fake")
    (tmp_path / "code.zip").write_bytes(b"PK fake")
    assert ours.uri_for_file(tmp_path / "m.py") == packaging.get_uri_for_file(str(tmp_path / "m.py"))
    for name in ("w-1.0-py3-none-any.whl", "code.tgz", "code.zip"):
        assert ours.uri_for_package_file(tmp_path / name) == packaging.get_uri_for_package(tmp_path / name)


def test_prepare_runtime_env_matches_rays_client(tmp_path, monkeypatch):
    require("ray._private.runtime_env.packaging")
    from ray._private.runtime_env.py_modules import upload_py_modules_if_needed
    from ray._private.runtime_env.working_dir import upload_working_dir_if_needed

    root = _tree(tmp_path / "code")
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "__init__.py").write_text("")
    (tmp_path / "one.py").write_text("Y = 2\n")
    env = {"working_dir": str(root), "py_modules": [str(tmp_path / "mod"), "s3://b/k.zip", str(tmp_path / "one.py")],
           "excludes": ["*.txt"], "pip": ["requests"]}  # fmt: skip
    new, packages = ours.prepare_runtime_env(env)
    ray_env = upload_working_dir_if_needed(dict(env), include_gitignore=True, upload_fn=lambda *a, **k: None)
    ray_env = upload_py_modules_if_needed(ray_env, include_gitignore=True, upload_fn=lambda *a, **k: None)
    assert new == ray_env and env["working_dir"] == str(root)
    assert [p.field for p in packages] == ["runtime_env.working_dir", "runtime_env.py_modules[0]", "runtime_env.py_modules[2]"]
    for uri in ("oss://b/code.zip", "https://h/c.zip", "gcs://_ray_pkg_x.zip"):
        assert ours.prepare_runtime_env({"working_dir": uri}) == ({"working_dir": uri}, [])


def test_gitignore_switch_and_default_excludes_follow_rays_environment(tmp_path, monkeypatch):
    packaging = require("ray._private.runtime_env.packaging")
    root = _tree(tmp_path / "code")
    monkeypatch.setenv("RAY_RUNTIME_ENV_IGNORE_GITIGNORE", "1")
    monkeypatch.setenv("RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES", ".git")
    new, _ = ours.prepare_runtime_env({"working_dir": str(root)})
    assert new["working_dir"] == packaging.get_uri_for_directory(str(root), False, excludes=[".git"])


def test_missing_paths_name_the_field(tmp_path):
    with pytest.raises(EmrRayValidationError, match=r"^runtime_env.working_dir: "):
        ours.prepare_runtime_env({"working_dir": str(tmp_path / "no")})
    with pytest.raises(EmrRayValidationError, match=r"^runtime_env.py_modules\[1\]: "):
        ours.prepare_runtime_env({"py_modules": [str(tmp_path), str(tmp_path / "no")]})
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(EmrRayValidationError, match=r"py_modules\[0\]: .* a .py file or a .whl"):
        ours.prepare_runtime_env({"py_modules": [str(tmp_path / "x.txt")]})


def test_size_limit_names_the_folder_and_its_size_and_leaves_no_temp_file(tmp_path, monkeypatch):
    monkeypatch.setattr(ours, "GCS_STORAGE_MAX_SIZE", 1024 * 1024)
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "blob").write_bytes(b"\0" * (2 * 1024 * 1024))
    _, (pkg,) = ours.prepare_runtime_env({"working_dir": str(tmp_path / "big")})
    temp = tmp_path / "tmp"
    temp.mkdir()
    with pytest.raises(EmrRayValidationError, match=r"big packs to 2.00 MiB, at or above Ray's package limit of 1.00 MiB"):
        pkg.build(str(temp))
    assert list(temp.iterdir()) == []


def test_the_limit_is_rays():
    packaging = require("ray._private.runtime_env.packaging")
    assert ours.GCS_STORAGE_MAX_SIZE == packaging.GCS_STORAGE_MAX_SIZE == 512 * 1024 * 1024
