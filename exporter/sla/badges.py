"""Shields.io-style "flat" SVG badges: a grey label, a coloured message.

The layout is Shields's (20 px high, Verdana 11 px drawn at 10x scale with ``textLength``, so the
text fills the width computed here whatever font the viewer has). Widths come from a small
table of Verdana 11 px advances; text is XML-escaped, and the badge says what it shows in
``<title>`` and ``aria-label`` for screen readers.
"""

from __future__ import annotations

from typing import Final, Protocol
from xml.sax.saxutils import escape, quoteattr


class Component(Protocol):
    """What a badge needs of a status-page component."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def uptime_month_to_date(self) -> float | None: ...

# Shields's named colours for each component status, and grey for "no data"
STATUS_COLOURS: Final = {
    "operational": "#4c1",
    "degraded_performance": "#dfb317",
    "partial_outage": "#fe7d37",
    "major_outage": "#e05d44",
    "under_maintenance": "#007ec6",
}
NO_DATA_COLOUR: Final = "#9f9f9f"
_NARROW: Final = dict.fromkeys("fijlrtI.,:;!|' ()[]", 4.2)
_WIDE: Final = dict.fromkeys("mwMW%@", 11.0)
_HORIZONTAL_PADDING: Final = 10  # 5 px either side of each text


def text_width(text: str) -> float:
    """Approximate width of ``text`` in Verdana 11 px."""
    total = 0.0
    for ch in text:
        total += _NARROW.get(ch) or _WIDE.get(ch) or (7.6 if ch.isupper() else 7.0 if ch.isdigit() else 6.6)
    return total


def percent(value: float | None) -> str:
    """99.95 -> "99.95%", 99.9 -> "99.9%", 100 -> "100%"; None -> "no data"."""
    if value is None:
        return "no data"
    return f"{value:.2f}".rstrip("0").rstrip(".") + "%"


def badge(label: str, message: str, colour: str, *, title: str | None = None) -> str:
    """The SVG document of a flat badge."""
    label_w = round(text_width(label)) + _HORIZONTAL_PADDING
    message_w = round(text_width(message)) + _HORIZONTAL_PADDING
    width = label_w + message_w
    title = title or f"{label}: {message}"

    def text(x: float, content: str, length: int) -> str:
        body = escape(content)
        return (f'<text aria-hidden="true" x="{x * 10:.0f}" y="150" fill="#010101" fill-opacity=".3" '
                f'transform="scale(.1)" textLength="{length * 10}">{body}</text>'
                f'<text x="{x * 10:.0f}" y="140" transform="scale(.1)" fill="#fff" '
                f'textLength="{length * 10}">{body}</text>')

    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label={quoteattr(title)}><title>{escape(title)}</title>'
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{label_w}" height="20" fill="#555"/>'
        f'<rect x="{label_w}" width="{message_w}" height="20" fill={quoteattr(colour)}/>'
        f'<rect width="{width}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        'text-rendering="geometricPrecision" font-size="110">'
        f"{text(label_w / 2, label, label_w - _HORIZONTAL_PADDING)}"
        f"{text(label_w + message_w / 2, message, message_w - _HORIZONTAL_PADDING)}"
        "</g></svg>"
    )


def uptime_badge(component: Component) -> str:
    """A component's month-to-date uptime, coloured by its current status."""
    message = percent(component.uptime_month_to_date)
    colour = STATUS_COLOURS.get(component.status, NO_DATA_COLOUR)
    status = component.status.replace("_", " ")
    return badge(f"{component.name} uptime", message, colour,
                 title=f"{component.name} uptime this month: {message} ({status})")
