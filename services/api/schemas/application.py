"""Application schemas, with the integrations (MQTT on/off, webhooks, payload codec)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from services.storage.domain import Application, Integrations, Webhook

from .common import Description, Name, PublicSchema, Schema

CodecName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$",
        description="payload codec name (none: raw bytes)",
        examples=["cayenne_lpp"],
    ),
]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("webhook url must be an absolute http:// or https:// URL")
    return value


WebhookUrl = Annotated[str, Field(max_length=2000), AfterValidator(_http_url)]


class WebhookSchema(Schema):
    url: WebhookUrl
    headers: dict[str, str] = Field(default_factory=dict)


class IntegrationsSchema(Schema):
    mqtt_enabled: bool = True
    webhooks: list[WebhookSchema] = Field(default_factory=list, max_length=20)
    codec: CodecName | None = None

    def to_domain(self) -> Integrations:
        return Integrations(
            mqtt_enabled=self.mqtt_enabled,
            webhooks=[Webhook(url=w.url, headers=dict(w.headers)) for w in self.webhooks],
            codec=self.codec,
        )

    @classmethod
    def from_domain(cls, integrations: Integrations) -> IntegrationsSchema:
        return cls(
            mqtt_enabled=integrations.mqtt_enabled,
            webhooks=[
                WebhookSchema(url=w.url, headers=dict(w.headers)) for w in integrations.webhooks
            ],
            codec=integrations.codec,
        )


class ApplicationCreate(Schema):
    name: Name
    description: Description = ""
    tenant_id: uuid.UUID | None = Field(
        default=None, description="required for admin keys; tenant keys use their own tenant"
    )
    integrations: IntegrationsSchema = Field(default_factory=IntegrationsSchema)

    def to_domain(self, tenant_id: uuid.UUID) -> Application:
        return Application(
            tenant_id=tenant_id,
            name=self.name,
            description=self.description,
            integrations=self.integrations.to_domain(),
        )


class ApplicationUpdate(Schema):
    name: Name | None = None
    description: Description | None = None
    integrations: IntegrationsSchema | None = None


class ApplicationPublic(PublicSchema):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    description: str
    integrations: IntegrationsSchema
    created_at: datetime | None = None

    @classmethod
    def from_domain(cls, application: Application) -> ApplicationPublic:
        return cls(
            id=application.id,
            tenant_id=application.tenant_id,
            name=application.name,
            description=application.description,
            integrations=IntegrationsSchema.from_domain(application.integrations),
            created_at=application.created_at,
        )
