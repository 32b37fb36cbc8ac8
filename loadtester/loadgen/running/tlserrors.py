"""The error kind of a failed TLS connection (``tls: unknown ca``): the TLS alert the server
sent, or why this side gave up, from a bounded set (kinds are metric label values)."""

from __future__ import annotations

import ssl

__all__ = ["tls_error_kind"]

# the alert descriptions of RFC 8446 section 6 and RFC 5246 section 7.2
_ALERTS = frozenset({
    "close_notify", "unexpected_message", "bad_record_mac", "record_overflow",
    "handshake_failure", "bad_certificate", "unsupported_certificate", "certificate_revoked",
    "certificate_expired", "certificate_unknown", "illegal_parameter", "unknown_ca",
    "access_denied", "decode_error", "decrypt_error", "protocol_version",
    "insufficient_security", "internal_error", "inappropriate_fallback", "user_cancelled",
    "missing_extension", "unsupported_extension", "unrecognized_name",
    "bad_certificate_status_response", "unknown_psk_identity", "certificate_required",
    "no_application_protocol", "no_renegotiation",
})
_ALERT_PREFIXES = ("SSLV3_ALERT_", "TLSV13_ALERT_", "TLSV1_ALERT_")
# what this side's OpenSSL reports, by reason
_LOCAL = {
    "WRONG_VERSION_NUMBER": "tls: wrong version number",  # e.g. TLS to a plain HTTP port
    "UNSUPPORTED_PROTOCOL": "tls: protocol version",
    "NO_PROTOCOLS_AVAILABLE": "tls: protocol version",
    "NO_CIPHERS_AVAILABLE": "tls: handshake failure",
    "UNEXPECTED_EOF_WHILE_READING": "tls: unexpected eof",
}
# why this side refused the server's certificate, by X509 verify code
_VERIFY = {
    2: "tls: unknown authority",  # unable to get issuer certificate
    10: "tls: certificate expired",
    18: "tls: unknown authority",  # self-signed
    19: "tls: unknown authority",  # self-signed in chain
    20: "tls: unknown authority",  # unable to get local issuer certificate
    21: "tls: unknown authority",
    62: "tls: hostname mismatch",
    64: "tls: hostname mismatch",  # IP address mismatch
}


def tls_error_kind(exc: ssl.SSLError) -> str:
    """``tls: <alert>`` for an alert from the server, ``tls: unknown authority`` or ``tls:
    hostname mismatch`` when its certificate did not verify, a few local reasons, else ``tls:
    other``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _VERIFY.get(exc.verify_code, "tls: certificate verify failed")
    reason = exc.reason or ""
    for prefix in _ALERT_PREFIXES:
        if reason.startswith(prefix):
            alert = reason[len(prefix):].lower()
            return f"tls: {alert.replace('_', ' ')}" if alert in _ALERTS else "tls: other alert"
    return _LOCAL.get(reason, "tls: other")
