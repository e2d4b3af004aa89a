"""The ACK ketaflow returns for each message (HL7 v2 original-mode acknowledgement, v2.5.1 2.9.2).

MSA-1 is AA (charted), AE (its content cannot be charted) or AR (rejected: not a message
ketaflow takes, or from a sender it does not know); MSA-2 is the control id of the message
answered. The reason is in MSA-3 (text message, at most 80 characters in v2.3-2.5) and in ERR: for
v2.5 and later ERR-2 (where), ERR-3 (HL7 table 0357 code), ERR-4 (severity) and ERR-8 (the whole
sentence); for v2.3 and 2.4, ERR-1 (segment^sequence^field^code&text&HL70357).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from ketaflow.interop.hl7.oru import ERROR_TEXT, Header

APPLICATION = "KETAFLOW"
MSA_TEXT_MAX = 80
_ESCAPES = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}


def escape(text: str) -> str:
    """`text` with HL7's delimiters escaped (v2.5.1 2.7.4), and no segment breaks."""
    out = "".join(_ESCAPES.get(c, c) for c in text)
    return out.replace("\r", " ").replace("\n", " ")


def _ts(at: datetime) -> str:
    return at.strftime("%Y%m%d%H%M%S") + at.strftime("%z")


def build_ack(
    header: Header,
    code: str,
    *,
    at: datetime,
    reason: str = "",
    where: str = "",
    error_code: str = "",
    control_id: str | None = None,
) -> str:
    """The ACK message (segments separated by CR) answering the message with `header`."""
    version = header.version or "2.5.1"
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            APPLICATION,
            escape(header.receiving_facility),
            escape(header.sending_application),
            escape(header.sending_facility),
            _ts(at),
            "",
            # MSH-9: type^trigger, and from v2.3.1 on the structure (ACK) as a third component
            f"ACK^{escape(header.trigger) or 'R01'}" + ("^ACK" if version >= "2.3.1" else ""),
            control_id or uuid.uuid4().hex[:20],
            "P",
            version,
        ]
    )
    msa = ["MSA", code, escape(header.control_id)]
    if reason:
        msa.append(escape(reason[:MSA_TEXT_MAX]))
    segments = [msh, "|".join(msa)]
    if code != "AA" and reason:
        segments.append(_err(version, reason, where, error_code or "207"))
    return "\r".join(segments)


def _err(version: str, reason: str, where: str, error_code: str) -> str:
    label = ERROR_TEXT.get(error_code, "")
    parts = [escape(p) for p in where.split("^")] if where else []
    if version in ("2.3", "2.3.1", "2.4"):  # ERR-1 ELD: segment^sequence^field^code (no free text)
        eld = "^".join((parts + ["", "", ""])[:3])
        return f"ERR|{eld}^{error_code}&{escape(label)}&HL70357"
    return f"ERR||{'^'.join(parts)}|{error_code}^{escape(label)}^HL70357|E||||{escape(reason)}"
