"""Marshmallow schemas to JSON Schema, for the OpenAPI and AsyncAPI documents."""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from app.chat.rules import MAX_ID_LENGTH
from app.schemas.fields import (
    ID_PATTERN,
    MAX_JSON_INTEGER,
    MAX_SEQUENCE,
    MAX_VERSION,
    MIN_JSON_INTEGER,
    USER_ID_TEXT,
    VERSION_PATTERN,
    Identifier,
    MessageIdentifier,
    Sequence,
    UserIdentifier,
    Version,
    with_null,
)

OPENAPI_VERSION = "3.1.0"
MAX_ID_INTEGER = 10**19 - 1  # the most digits a room or message id has (19)


def _ranges(self, field, **kwargs) -> dict:
    """What the custom fields enforce, stated in the documents (the string bounds apply to an id given as a
    string, the numeric ones to one given as a number: JSON Schema applies each to its own type)."""
    if isinstance(field, MessageIdentifier):
        found = {"type": ["string", "integer"], "pattern": ID_PATTERN, "minimum": 1, "maximum": MAX_ID_INTEGER}
    elif isinstance(field, Identifier):
        found = {
            "type": ["string", "integer"],
            "minLength": 1,
            "maxLength": MAX_ID_LENGTH,
            "minimum": MIN_JSON_INTEGER,
            "maximum": MAX_JSON_INTEGER,
        }
        if isinstance(field, UserIdentifier):  # the text rule, stated once in the document's components
            found.update(USER_ID_TEXT)
    elif isinstance(field, Version):
        found = {"type": ["string", "integer"], "pattern": VERSION_PATTERN, "minimum": 0, "maximum": MAX_VERSION}
    elif isinstance(field, Sequence):
        found = {"minimum": 0, "maximum": MAX_SEQUENCE}
    else:
        return {}
    return with_null(found, field)


def new_spec(title: str, version: str, description: str) -> tuple[APISpec, MarshmallowPlugin]:
    """An OpenAPI 3.1 spec with the marshmallow plugin, knowing this project's custom fields."""
    plugin = MarshmallowPlugin(schema_name_resolver=schema_name)
    spec = APISpec(
        title=title,
        version=version,
        openapi_version=OPENAPI_VERSION,
        info={"description": description},
        plugins=[plugin],
    )
    plugin.converter.add_attribute_function(_ranges)
    return spec, plugin


def schema_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name[: -len("Schema")] if name.endswith("Schema") and name != "Schema" else name


def to_json_schema(plugin: MarshmallowPlugin, schema: type[Schema] | Schema) -> dict:
    """The schema as JSON Schema, nested schemas referenced under `#/components/schemas/`."""
    return plugin.converter.schema2jsonschema(schema)
