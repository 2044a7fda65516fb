"""The connection form for the Airflow releases that read it from the hook class (3.0 and 3.1).

Airflow 3.2 and newer build the "Alibaba Cloud EMR Serverless Ray" connection form from provider
info (``conn-fields`` and ``ui-field-behaviour`` in :mod:`airflow_provider_emr_ray.get_provider_info`)
and, because those are declared, never call the hook's ``get_connection_form_widgets`` /
``get_ui_field_behaviour`` (so nothing here runs and nothing warns there). Airflow 3.0 and 3.1 do
not read ``conn-fields``: their api-server (``HookMetaService._get_hooks_with_mocked_fab``) imports
the hook, replaces a fixed set of WTForms / Flask-AppBuilder / Flask-Babel names with mocks that
record the arguments, and calls both classmethods. This module answers them from the very same
declaration (``CONN_FIELDS`` and ``UI_FIELD_BEHAVIOUR``, both generated from one table), so the
form has one source on every line.

Only names that HookMetaService mocks on both lines are used, and only from ``wtforms``
(``StringField``, ``IntegerField``, ``PasswordField``, ``wtforms.validators.Optional`` and
``any_of``); the mocked fields accept only ``label``, ``validators``, ``description``, ``default``
and ``widget``. They are imported inside the function: the hook module (imported by every DAG
file) imports none of them. Unlike the official providers, no Flask-AppBuilder widget and no
``flask_babel.lazy_gettext`` is used: the React UI ignores both, and leaving them out means that
on 3.0 ``wtforms`` alone is enough (below).

On 3.1 the api-server mocks those packages even when they are not installed. On 3.0 it mocks a
package only when it is importable, and Airflow's own ``ProvidersManager`` imports ``wtforms``
before asking any hook for either method: on 3.0 the extra fields, the relabelled AccessKey
fields and the hidden host/schema/port appear only when the api-server's environment has
``wtforms`` (``pip install wtforms``, or any install with ``apache-airflow-providers-fab``);
without it the form is the generic one (host, login, password, port, raw "Extra" JSON), as for
every provider's connection type on that release.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_emr_ray.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR

__all__ = ["connection_form_widgets", "ui_field_behaviour"]


def connection_form_widgets() -> dict[str, Any]:
    """WTForms fields of the extras, in declaration order: label and description as declared,
    ``PasswordField`` for secrets (``"format": "password"``), ``IntegerField`` for integers, a
    choice (``any_of``, without the null choice) for declared enums, ``StringField`` otherwise (numbers too: the hook reads
    numeric strings)."""
    from wtforms import IntegerField, PasswordField, StringField
    from wtforms.validators import Optional, any_of

    widgets: dict[str, Any] = {}
    for name, declared in CONN_FIELDS.items():
        schema = declared["schema"]
        kind = schema["type"][0] if isinstance(schema["type"], list) else schema["type"]
        validators: list[Any] = [Optional()]
        if "enum" in schema:
            # Without the empty choice: the 3.0 UI's select crashes the page on a null option
            # ("[zag-js] No value found for item"); an unset field stays empty all the same.
            validators.append(any_of([value for value in schema["enum"] if value is not None]))
        if schema.get("format") == "password":
            field_class = PasswordField
        elif kind == "integer":
            field_class = IntegerField
        else:
            field_class = StringField
        widgets[name] = field_class(declared["label"], validators=validators, description=declared["description"])
    return widgets


def ui_field_behaviour() -> dict[str, Any]:
    """``ui-field-behaviour`` in the hook method's spelling (``hidden_fields``, not ``hidden-fields``)."""
    return {
        "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
        "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
        "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
    }
