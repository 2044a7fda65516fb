"""The provider's registration and connection form declaration, as Airflow reads them."""

from __future__ import annotations

import json
import os
from importlib.metadata import entry_points

import airflow
import pytest

from airflow_provider_emr_ray.get_provider_info import CREDENTIAL_TYPES, get_provider_info

SECRET_EXTRAS = {"security_token", "external_id"}
EXPECTED_EXTRAS = {
    "region_id", "workspace_id", "endpoint", "security_token", "credential_type", "role_arn", "role_session_name",
    "external_id", "policy", "duration_seconds", "role_name", "oidc_provider_arn", "oidc_token_file_path",
    "sts_endpoint", "timeout", "max_retries",
}  # fmt: skip


def _schema(name: str) -> dict:
    with open(os.path.join(os.path.dirname(airflow.__file__), name)) as f:
        return json.load(f)


def test_entry_point_is_registered():
    eps = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_provider_emr_ray")]
    assert len(eps) == 1
    assert eps[0].load() is get_provider_info


def test_provider_info_validates_against_airflow_schemas():
    jsonschema = pytest.importorskip("jsonschema")
    info = get_provider_info()
    jsonschema.validate(info, _schema("provider_info.schema.json"))
    jsonschema.validate(info["connection-types"], _schema("provider.yaml.schema.json")["properties"]["connection-types"])
    assert info["package-name"] == "airflow-provider-emr-ray"


def test_connection_form_declares_every_extra_with_label_and_placeholder():
    conn = get_provider_info()["connection-types"][0]
    assert conn["connection-type"] == "emr_ray"
    assert conn["hook-class-name"] == "airflow_provider_emr_ray.hooks.emr_ray.EmrRayHook"
    assert conn["hook-name"] == "Alibaba Cloud EMR Serverless Ray"
    fields = conn["conn-fields"]
    assert set(fields) == EXPECTED_EXTRAS
    behaviour = conn["ui-field-behaviour"]
    for name, field in fields.items():
        assert field["label"] and field["description"], name
        assert ("format" in field["schema"] and field["schema"]["format"] == "password") == (name in SECRET_EXTRAS), name
        if name != "credential_type":
            assert behaviour["placeholders"].get(name), f"{name} has no placeholder"
    assert fields["credential_type"]["schema"]["enum"][1:] == list(CREDENTIAL_TYPES)
    assert set(behaviour["hidden-fields"]) == {"host", "schema", "port"}
    assert behaviour["relabeling"] == {"login": "AccessKey ID", "password": "AccessKey secret"}


def test_providers_manager_builds_the_form():
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    assert "airflow-provider-emr-ray" in pm.providers
    widgets = {k: v for k, v in pm.connection_form_widgets.items() if k.startswith("extra__emr_ray__")}
    assert {w.field_name for w in widgets.values()} == EXPECTED_EXTRAS
    assert {w.field_name for w in widgets.values() if w.is_sensitive} == SECRET_EXTRAS
    behaviour = pm.field_behaviours["emr_ray"]
    assert behaviour["placeholders"]["extra__emr_ray__workspace_id"] == "w-d2d82aa09155"


def test_hook_reads_every_declared_extra():
    """Every extra the form offers is one the hook or the credentials module reads."""
    import inspect

    from airflow_provider_emr_ray.client import credentials
    from airflow_provider_emr_ray.hooks import emr_ray

    source = inspect.getsource(emr_ray) + inspect.getsource(credentials)
    for name in EXPECTED_EXTRAS:
        assert f'"{name}"' in source, f"extra {name} is declared but never read"


def test_every_registered_module_and_link_imports():
    import importlib

    info = get_provider_info()
    for kind in ("operators", "sensors", "hooks", "triggers"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for path in info["extra-links"]:
        module, _, name = path.rpartition(".")
        link = getattr(importlib.import_module(module), name)
        assert link.name
