"""Scheduled jobs: the weekly calibration of every tenant's factor weights.

Sunday 03:00 UTC, when few incidents are open: an analysis scored during the
run may use the weights from before or after it, and both are valid.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from shared.bootstrap import runtime
from shared.scoring.calibration import calibrate

bp = df.Blueprint()
log = logging.getLogger("sre_copilot.schedules")

CALIBRATION_SCHEDULE = "0 0 3 * * 0"
"""NCRONTAB (seconds first): every Sunday at 03:00."""


@bp.schedule(schedule=CALIBRATION_SCHEDULE, arg_name="timer", run_on_startup=False)
def calibrate_weights(timer: func.TimerRequest) -> None:
    rt = runtime()
    now = rt.clock.now()
    for tenant in rt.tenants.list():
        try:
            outcome = calibrate(rt.store, tenant.id, now=now)
        except Exception:  # logged: one tenant's bad data must not stop the others
            log.exception("calibration of %s failed", tenant.id)
            continue
        log.info("calibration of %s: %s (%s)", tenant.id, outcome.status, outcome.reason)
