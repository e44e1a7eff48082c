"""The client against the server's own OpenAPI document: every route it calls is
there with its method, and every field its models read is a property of the schema
they name (and a field it requires is one the schema requires)."""

from __future__ import annotations

import inspect
import unittest
from dataclasses import fields
from typing import Any

from atelier_client import AsyncClient, Client, models
from atelier_client._http import API_PREFIX, ROUTES, TASK_FIELDS

from support import server


def setUpModule() -> None:
    global SPEC
    SPEC = server().spec


def schema_properties(name: str) -> tuple[dict[str, Any], set[str]]:
    """A schema's properties and required names, through `$ref` and `allOf`."""
    schema = SPEC["components"]["schemas"][name]
    properties: dict[str, Any] = {}
    required: set[str] = set()
    for part in schema.get("allOf", [schema]):
        if "$ref" in part:
            inner, inner_required = schema_properties(part["$ref"].rsplit("/", 1)[1])
            properties.update(inner)
            required |= inner_required
        else:
            properties.update(part.get("properties", {}))
            required |= set(part.get("required", []))
    return properties, required


class SpecTest(unittest.TestCase):
    def test_every_route_exists_with_its_method(self) -> None:
        paths = SPEC["paths"]
        for name, (method, path) in ROUTES.items():
            with self.subTest(route=name):
                self.assertIn(API_PREFIX + path, paths, f"{name}: no {path} in /openapi.json")
                self.assertIn(method.lower(), paths[API_PREFIX + path], f"{name}: {path} has no {method}")

    def test_every_model_field_is_in_its_schema(self) -> None:
        for model in models.ALL_MODELS:
            properties, required = schema_properties(model.SCHEMA)
            for item in fields(model):  # type: ignore[arg-type]
                if item.name == "raw":
                    continue
                key = item.metadata.get("json") or item.name
                with self.subTest(model=model.__name__, field=key):
                    self.assertIn(key, properties, f"{model.SCHEMA} has no {key!r}")
                    if item.metadata.get("required", True):
                        self.assertIn(key, required, f"{model.__name__} requires {key!r}; {model.SCHEMA} may omit it")

    def test_every_list_filter_is_a_parameter(self) -> None:
        # A list method's keyword-only parameters are the query it sends, by name.
        for name in ("list_tasks", "list_assets"):
            method, path = ROUTES[name]
            operation = SPEC["paths"][API_PREFIX + path][method.lower()]
            documented = {parameter["name"] for parameter in operation.get("parameters", [])}
            for client, method_name in [(c, m) for c in (Client, AsyncClient) for m in (name, "iter" + name[4:])]:
                signature = inspect.signature(getattr(client, method_name))
                sent = {parameter.name for parameter in signature.parameters.values()
                        if parameter.kind is inspect.Parameter.KEYWORD_ONLY}
                with self.subTest(client=client.__name__, method=method_name):
                    self.assertTrue(sent)
                    self.assertLessEqual(sent, documented, f"{name} sends what {path} does not take")

    def test_every_task_field_sent_is_in_the_request_schema(self) -> None:
        properties, _ = schema_properties("CreateTaskRequest")
        self.assertLessEqual(set(TASK_FIELDS), set(properties))
        for client in (Client, AsyncClient):
            keywords = set(inspect.signature(client.create_task).parameters) - {"self", "idempotency_key", "wait"}
            self.assertEqual(keywords, set(TASK_FIELDS), f"{client.__name__}.create_task sends these fields")

    def test_the_check_can_fail(self) -> None:
        # The checker itself: a schema that lacks a field is caught.
        properties, _ = schema_properties("TaskView")
        self.assertNotIn("no_such_field", properties)
        self.assertIn("task_id", properties)


if __name__ == "__main__":
    unittest.main()
