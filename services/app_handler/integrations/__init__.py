"""Integrations of the application handler: MQTT (events out, commands in) and webhooks."""

from __future__ import annotations

from .mqtt import DownCommand, MqttIntegration, event_topic, parse_command
from .webhook import WebhookIntegration

__all__ = ["DownCommand", "MqttIntegration", "WebhookIntegration", "event_topic", "parse_command"]
