"""Which questionnaires a patient answers from home, and how often each falls due: read by the
patient's page (services/portal.py) and by the reminders that ask for them (services/outbox.py)."""

from __future__ import annotations

from datetime import timedelta

from ketaflow.vocabulary import Instrument

# Questionnaires a patient answers from home, and how often each falls due. The PHQ-9 and
# GAD-7 ask about the last two weeks (Kroenke 2001; Spitzer 2006); a weekly cadence between
# visits is NOT from a published source: clinic policy placeholder, to be confirmed. The C-SSRS
# screener (Posner 2011) is offered with them so that a positive screen answered at home reaches
# the on-call psychiatrist (issue 17); asking it weekly is the same placeholder.
DUE_EVERY: dict[Instrument, timedelta] = {
    Instrument.PHQ9: timedelta(days=7),
    Instrument.GAD7: timedelta(days=7),
    Instrument.CSSRS_SCREEN: timedelta(days=7),
}
DUE_SOURCE = "source not found; clinic policy placeholder, to be confirmed (weekly between visits)"
