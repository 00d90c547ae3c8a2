"""Join server errors and rejection reasons."""

from __future__ import annotations

from enum import StrEnum


class JoinServerError(Exception):
    """Base of the join server's own errors."""


class InsecureSettings(JoinServerError, ValueError):
    """Settings that would leak keys outside development (clear AppSKeys)."""


class RejectReason(StrEnum):
    """Why a JoinRequest was refused (``JoinAccept.reason`` and the metric label)."""

    MALFORMED = "malformed"  # not a JoinRequest, or its fields disagree with the message
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_DISABLED = "device_disabled"
    NOT_OTAA = "not_otaa"  # profile without OTAA support, or no root key
    UNSUPPORTED_REGION = "unsupported_region"
    UNSUPPORTED_MAC_VERSION = "unsupported_mac_version"
    JOIN_EUI_MISMATCH = "join_eui_mismatch"
    MIC_MISMATCH = "mic_mismatch"
    DEV_NONCE_REUSED = "dev_nonce_reused"
    JOIN_NONCE_EXHAUSTED = "join_nonce_exhausted"
    STALE_REDELIVERY = "stale_redelivery"  # a redelivered request a newer join superseded


class JoinRejected(JoinServerError):
    """A JoinRequest the join server refuses; the adapter turns it into accepted=False."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
