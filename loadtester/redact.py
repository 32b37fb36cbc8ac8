"""Secrets out of text: credential headers, URL passwords, credential flags and parameters.

`redact(text)` replaces only the secret part with `***`, so that a line stays useful:
`curl -H 'Authorization: ***' http://admin:***@host/?token=***`. It is called where each kind
of output passes through: the log processor chain (logs.py), the error middleware (app.py),
the failure a background run leaves in the state store (tasks/runner.py) and the label values
of the load metrics (metrics.py).
"""

from __future__ import annotations

import re

MASK = "***"

# every rule below needs one of these; most strings (paths, names, numbers) have none
_TRIGGER = re.compile(r"[:=@]|--|(?i:bearer|basic)")

# name lengths are bounded so that a hostile 64 KiB word cannot make a rule backtrack for long
_HEADER = r"[\w-]{0,40}(?:token|key|secret|auth|passw(?:or)?d|session|cookie|credential)[\w-]{0,40}"
_FLAG_WORD = r"(?:token|secret|passw(?:or)?d|api-?key|credential)"
_PARAM = (r"(?:[\w.-]{0,40}(?:token|passw(?:or)?d|secret|api_?key|apikey|auth(?!ors?\b)|credential"
          r"|signature|[_-]key)[\w.-]{0,20}|key|pwd|pass|sig)")

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # first, so that a header rule below never leaves the token of "Authorization: Bearer x"
    (re.compile(r"(?i)\b(bearer\s+)[\w.~+/-]+=*"), rf"\1{MASK}"),
    # Basic followed by base64, not by an English word ("Basic authentication failed")
    (re.compile(r"\b((?i:basic)\s+)(?![A-Z]?[a-z]+\b)[A-Za-z0-9+/]{4,}={0,2}"), rf"\1{MASK}"),
    # `Name: value` of a credential header (Authorization, Cookie, X-Api-Key); quoted or on a
    # line of its own (the `headers` metadata, also JSON-escaped), the value runs to its end
    (re.compile(rf"(?im)(?:^|(?<=['\"])|(?<=\\n))({_HEADER}\s*:[ \t]*)[^\s'\"\\][^'\"\r\n\\]*"),
     rf"\1{MASK}"),
    # unquoted (-H X-Api-Key:k, --header=Cookie:a), the value is one word
    (re.compile(rf"(?i)(?<=[\s=,{{(])({_HEADER}\s*:[ \t]*)[^\s'\"\\]+"), rf"\1{MASK}"),
    # URL user info: user:password@ keeps the user; a lone user may be a token (https://ghp_x@)
    (re.compile(r"(?<=://)([^\s/@:'\"\\]*):[^\s/@'\"\\]+@"), rf"\1:{MASK}@"),
    (re.compile(r"(?<=://)[^\s/@:'\"\\]+@"), f"{MASK}@"),
    # user:password arguments: hey -a, curl -u / --user / --proxy-user
    (re.compile(r"(?<![\w-])(-a|-u|--user|--proxy-user)([=\s]\s*['\"]?)([^\s:'\"\\]*):"
                r"[^\s'\"\\]+"), rf"\1\2\3:{MASK}"),
    # --password X, --token=X, -client-secret X, --api-key 'X' (a following flag is no value)
    (re.compile(rf"(?i)(?<![\w-])(--?[\w-]{{0,40}}{_FLAG_WORD}s?[\w-]{{0,40}})(=|\s+)"
                r"(?:'[^']*'|\"[^\"]*\"|(?!-)[^\s'\"\\]+)"), rf"\1\2{MASK}"),
    # token=, password=, api_key=, access_token=, X-Amz-Signature= in queries and forms
    (re.compile(rf"(?i)(?<![\w.-])({_PARAM})=[^&\s'\"#;\\]+"), rf"\1={MASK}"),
)


def redact(text: str) -> str:
    """`text` with every secret it carries replaced by `***`."""
    if not _TRIGGER.search(text):
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def host_only(url: str) -> str:
    """A URL that is itself a credential (a chat webhook) reduced to its scheme and host."""
    match = re.match(r"^([a-z][a-z0-9+.-]*://[^/@]*@?[^/]*)", url, re.I)
    return redact(match.group(1)) + "/***" if match else MASK
