"""How far missing questionnaires can move a response rate: worst- and best-case bounds.

A course that completed induction is evaluable only if its end-of-induction PHQ-9 came back.
The dashboard's response rate counts evaluable courses only, which assumes the non-returners
would have responded as often as the returners did. Without that assumption the true rate lies
between two bounds: every non-returner a non-responder (the lowest it can be) and every
non-returner a responder (the highest). Source: Manski CF, "Nonparametric bounds on treatment
effects", American Economic Review 1990;80(2):319-323 (bounds under missing outcomes, no
assumption about why they are missing). A wide gap between the bounds says the figure rests on
the questionnaires that did come back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResponseBounds:
    returned: int  # courses with the end-of-induction questionnaire (evaluable)
    missing: int  # courses that completed induction without it (non-returners)
    observed: float | None  # responders / returned: assumes the missing are like the returned
    lowest: float | None  # every non-returner a non-responder
    highest: float | None  # every non-returner a responder


def response_bounds(responders: int, returned: int, completed: int) -> ResponseBounds:
    """The bounds of the response rate among `completed` courses, `returned` of them evaluable."""
    if not 0 <= responders <= returned <= completed:
        raise ValueError(
            f"need 0 <= responders ({responders}) <= returned ({returned}) <= completed ({completed})"
        )
    missing = completed - returned
    if completed == 0:
        return ResponseBounds(returned, missing, None, None, None)
    observed = responders / returned if returned else None
    return ResponseBounds(
        returned, missing, observed, responders / completed, (responders + missing) / completed
    )
