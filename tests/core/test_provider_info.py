"""The provider's registration and connection form declaration, as Airflow reads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from importlib.metadata import entry_points

import airflow
import jsonschema
import pytest

from airflow_provider_emr_ray import version_compat
from airflow_provider_emr_ray.get_provider_info import (
    CONN_FIELDS,
    CREDENTIAL_TYPES,
    UI_FIELD_BEHAVIOUR,
    get_provider_info,
)

SECRET_EXTRAS = {"security_token", "external_id"}
EXPECTED_EXTRAS = {
    "region_id", "workspace_id", "endpoint", "security_token", "credential_type", "role_arn", "role_session_name",
    "external_id", "policy", "duration_seconds", "role_name", "oidc_provider_arn", "oidc_token_file_path",
    "sts_endpoint", "timeout", "max_retries", "ray_jobs_endpoint",
}  # fmt: skip


def _schema(name: str) -> dict:
    with open(os.path.join(os.path.dirname(airflow.__file__), name)) as f:
        return json.load(f)


def test_entry_point_is_registered():
    eps = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_provider_emr_ray")]
    assert len(eps) == 1
    assert eps[0].load() is get_provider_info


def test_provider_info_validates_against_airflow_schemas():
    """Against the schemas that ship with the running Airflow (each line has its own copies)."""
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


# ------------------------------------------------------------------ the form Airflow 3.0/3.1 build from the hook

# WTForms stand-ins recording their arguments: the legacy form (hooks.form) checked without WTForms.
_FAKE_WTFORMS_FIELDS = ("StringField", "IntegerField", "PasswordField")


def _fake_wtforms(monkeypatch: pytest.MonkeyPatch) -> None:
    wtforms = types.ModuleType("wtforms")
    validators = types.ModuleType("wtforms.validators")
    for name in _FAKE_WTFORMS_FIELDS:

        def init(self, label=None, validators=None, description="", default=None, widget=None):  # noqa: PLR0913
            # exactly the parameters Airflow 3.0/3.1's mocked fields accept
            self.label, self.validators, self.description = label, validators, description

        setattr(wtforms, name, type(name, (), {"__init__": init}))
    validators.Optional = type("Optional", (), {})
    validators.any_of = lambda values: ("any_of", tuple(values))
    wtforms.validators = validators
    monkeypatch.setitem(sys.modules, "wtforms", wtforms)
    monkeypatch.setitem(sys.modules, "wtforms.validators", validators)
    for other in ("flask_appbuilder", "flask_appbuilder.fieldwidgets", "flask_babel"):
        monkeypatch.setitem(sys.modules, other, None)  # importing them would fail the test


def test_hook_form_methods_answer_from_the_same_declaration(monkeypatch: pytest.MonkeyPatch):
    from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

    _fake_wtforms(monkeypatch)
    # Defined on the class itself: Airflow looks in ``hook_class.__dict__``, not at inherited ones.
    assert "get_connection_form_widgets" in EmrRayHook.__dict__
    assert "get_ui_field_behaviour" in EmrRayHook.__dict__
    widgets = EmrRayHook.get_connection_form_widgets()
    assert list(widgets) == list(CONN_FIELDS)
    for name, field in widgets.items():
        declared = CONN_FIELDS[name]
        kind = declared["schema"]["type"][0]
        want = "PasswordField" if name in SECRET_EXTRAS else "IntegerField" if kind == "integer" else "StringField"
        assert type(field).__name__ == want, name
        assert field.label == declared["label"] and field.description == declared["description"], name
        assert type(field.validators[0]).__name__ == "Optional", name
    # no null choice: Airflow 3.0's UI crashes the page on a null option of a select
    assert widgets["credential_type"].validators[1] == ("any_of", CREDENTIAL_TYPES)
    assert widgets["ray_jobs_endpoint"].validators[1] == ("any_of", ("public", "internal"))
    assert all(len(f.validators) == 1 for n, f in widgets.items() if n not in ("credential_type", "ray_jobs_endpoint"))

    behaviour = EmrRayHook.get_ui_field_behaviour()
    jsonschema.validate(behaviour, _schema("customized_form_field_behaviours.schema.json"))
    assert behaviour == {
        "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
        "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
        "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
    }


def test_importing_the_hook_imports_no_form_library():
    code = (
        "import sys, airflow_provider_emr_ray.hooks.emr_ray\n"
        "bad = [m for m in ('wtforms', 'flask_appbuilder', 'flask_babel', 'airflow_provider_emr_ray.hooks.form')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy(), timeout=120)


# ------------------------------------------------------------------ what the api-server sends the UI, per line

# Runs in a fresh interpreter (ProvidersManager and HookMetaService cache what they build once per
# process). Calls ``HookMetaService.hook_meta_data()``, all that the ``GET /ui/connections/hook_meta``
# route returns on every line (its module is not imported: on 3.0.0 next to a FastAPI newer than
# Airflow's constraints, importing the api-server's routers fails), dumped as FastAPI sends it, and
# reports our connection type, whether hooks.form was asked, and the warnings
# that named our hook. With "wtforms-importable" it first makes ``wtforms`` importable as a stand-in
# module: on 3.0 the api-server patches every WTForms name our form uses only when ``wtforms`` can be
# imported (a deployment with ``wtforms`` or the FAB provider installed); 3.1 does this itself.
_HOOK_META_SCRIPT = r"""
import json, sys, warnings
from unittest.mock import MagicMock
if sys.argv[1] == "wtforms-importable":
    for name in ("wtforms", "wtforms.fields", "wtforms.fields.simple", "wtforms.validators"):
        sys.modules[name] = MagicMock()
import airflow_provider_emr_ray.hooks.form as form
calls = []
real = form.connection_form_widgets
def counting():
    calls.append(1)
    return real()
form.connection_form_widgets = counting
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    metas = [m.model_dump(mode="json") for m in HookMetaService.hook_meta_data() if m.connection_type == "emr_ray"]
print("HOOK-META " + json.dumps({
    "metas": metas,
    "form_calls": len(calls),
    "warnings": [str(w.message) for w in caught if "EmrRay" in str(w.message) or "emr_ray" in str(w.message)],
}))
"""


def _hook_meta(mode: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _HOOK_META_SCRIPT, mode],
        env={**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"},
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("HOOK-META ")]
    assert proc.returncode == 0 and lines, f"exit {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    result = json.loads(lines[-1][len("HOOK-META ") :])
    assert len(result["metas"]) == 1, result["metas"]
    assert result["warnings"] == [], result["warnings"]
    return result


def test_api_server_hook_meta_lists_every_extra():
    """The connection form's data, on every line: every extra with its label and description, the
    secrets as passwords, host/schema/port hidden, the AccessKey pair relabelled with placeholders.

    3.2+ build it from ``conn-fields`` (and never call the hook's form methods); 3.0/3.1 from the
    hook's ``get_connection_form_widgets``/``get_ui_field_behaviour`` (3.0 only when ``wtforms`` is
    importable in the api-server: see the next test for what it shows without)."""
    result = _hook_meta("as-installed" if version_compat.AIRFLOW_V_3_1_PLUS() else "wtforms-importable")
    (meta,) = result["metas"]
    assert meta["hook_name"] == "Alibaba Cloud EMR Serverless Ray"
    assert meta["hook_class_name"] == "airflow_provider_emr_ray.hooks.emr_ray.EmrRayHook"
    extras = meta["extra_fields"]
    assert list(extras) == list(CONN_FIELDS)
    for name, declared in CONN_FIELDS.items():
        schema = extras[name]["schema"]
        assert schema["title"] == declared["label"], name
        assert extras[name]["description"] == declared["description"], name
        assert (schema.get("format") == "password") == (name in SECRET_EXTRAS), name
        assert "null" in schema["type"], name  # every extra is optional
    enum = extras["credential_type"]["schema"]["enum"]
    assert enum == ([None] if version_compat.AIRFLOW_V_3_2_PLUS() else []) + list(CREDENTIAL_TYPES)
    assert extras["duration_seconds"]["schema"]["type"][0] == "integer"

    standard = meta["standard_fields"]
    for name in ("host", "port", "url_schema"):
        assert standard[name]["hidden"] is True, name
    for name in ("login", "password"):
        assert standard[name]["hidden"] is False
        assert standard[name]["title"] == UI_FIELD_BEHAVIOUR["relabeling"][name]
        assert standard[name]["placeholder"] == UI_FIELD_BEHAVIOUR["placeholders"][name]

    if version_compat.AIRFLOW_V_3_2_PLUS():
        # conn-fields take precedence: their richer schema arrives, the hook's form is never built.
        assert result["form_calls"] == 0
        declared_labels = CONN_FIELDS["credential_type"]["schema"]["values_display"]
        assert extras["credential_type"]["schema"]["values_display"] == declared_labels
        assert extras["endpoint"]["schema"]["format"] == "url"
        assert extras["timeout"]["schema"]["type"][0] == "number"
    else:
        assert result["form_calls"] >= 1
        assert extras["timeout"]["schema"]["type"][0] == "string"  # no number field on 3.0/3.1 (the hook reads "30")


@pytest.mark.skipif(version_compat.AIRFLOW_V_3_1_PLUS(), reason="Airflow 3.1+ mock WTForms even when it is absent")
def test_api_server_hook_meta_on_3_0_without_wtforms():
    """Airflow 3.0's limit, as documented: its ProvidersManager imports ``wtforms`` before asking any
    hook, so without it no provider's form is customised (generic fields and the raw Extra JSON)."""
    from importlib.util import find_spec

    if find_spec("wtforms") is not None:
        pytest.skip("wtforms is installed here: the form is complete (test_api_server_hook_meta_lists_every_extra)")
    result = _hook_meta("as-installed")
    (meta,) = result["metas"]
    assert meta["hook_name"] == "Alibaba Cloud EMR Serverless Ray"
    assert meta["extra_fields"] is None
    assert meta["standard_fields"] is None
    assert result["form_calls"] == 0


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
