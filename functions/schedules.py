"""Scheduled jobs: reconciling open incidents, the weekly calibration of weights, weekly reports.

Reconciliation, every 5 minutes: an open incident whose orchestration is
missing, failed or ended is started again; one whose wake went unanswered is
woken again. Calibration, Sunday 03:00 UTC, when few incidents are open: an
analysis scored during the run may use the weights from before or after it,
and both are valid. Weekly reports, checked every 15 minutes: each tenant's
is due on Monday from 09:00 in its own time zone (zones are offset from UTC
by whole quarter hours) and sent once, the store keeping the mark. The
anomaly sweep, every 15 minutes: each tenant's deviating signals filed with
its open incidents or in its daily digest; it never pages. The digest,
checked every 15 minutes: the day before is posted once from 09:00 in the
tenant's zone, the store keeping the mark. The same timer proposes each
action that earned promotion out of shadow mode, once per readiness, from
09:00 in the tenant's zone (``shared.autonomy.promotion``; resolving an
incident proposes at once).
"""

from __future__ import annotations

import asyncio
import logging

import azure.durable_functions as df
import azure.functions as func

from functions.incident import instance_id, wake
from shared.anomaly.digest import Status as DigestStatus
from shared.anomaly.digest import is_due, send_daily_digest
from shared.anomaly.live import run as sweep_anomalies_of
from shared.autonomy.promotion import sweep as propose_promotions
from shared.bootstrap import runtime
from shared.incidents.reconcile import needs_start, open_incidents
from shared.predict.live import run_sweep
from shared.report.deliver import Status, send_weekly_report
from shared.scoring.calibration import calibrate

bp = df.Blueprint()
log = logging.getLogger("sre_copilot.schedules")

RECONCILE_SCHEDULE = "0 */5 * * * *"
"""NCRONTAB (seconds first): every 5 minutes."""
CALIBRATION_SCHEDULE = "0 0 3 * * 0"
"""NCRONTAB (seconds first): every Sunday at 03:00."""
ANOMALY_SWEEP_SCHEDULE = "0 */15 * * * *"
"""NCRONTAB (seconds first): every 15 minutes; each sweep looks at the last hour."""
WEEKLY_REPORT_SCHEDULE = "0 */15 * * * *"
"""NCRONTAB (seconds first): every 15 minutes; each tenant's Monday 09:00 is its own."""
ANOMALY_DIGEST_SCHEDULE = "0 */15 * * * *"
"""NCRONTAB (seconds first): every 15 minutes; each tenant's 09:00 is its own."""
FORECAST_SCHEDULE = "0 */15 * * * *"
"""NCRONTAB (seconds first): every 15 minutes."""


@bp.schedule(schedule=CALIBRATION_SCHEDULE, arg_name="timer", run_on_startup=False)
def calibrate_weights(timer: func.TimerRequest) -> None:
    rt = runtime()
    now = rt.clock.now()
    for tenant in rt.tenants.active():
        try:
            outcome = calibrate(rt.store, tenant.id, now=now)
        except Exception:  # logged: one tenant's bad data must not stop the others
            log.exception("calibration of %s failed", tenant.id)
            continue
        log.info("calibration of %s: %s (%s)", tenant.id, outcome.status, outcome.reason)


@bp.schedule(schedule=FORECAST_SCHEDULE, arg_name="timer", run_on_startup=False)
def sweep_forecasts(timer: func.TimerRequest) -> None:
    rt = runtime()
    now = rt.clock.now()
    for tenant in rt.tenants.active():
        try:
            run = run_sweep(rt, tenant, now)
        except Exception:  # logged: one tenant's failure must not stop the others
            log.exception("forecast sweep of %s failed", tenant.id)
            continue
        log.info("forecast sweep of %s: %s", tenant.id, run.summary())
        for error in run.errors:
            log.warning("forecast sweep of %s: %s", tenant.id, error)


@bp.schedule(schedule=WEEKLY_REPORT_SCHEDULE, arg_name="timer", run_on_startup=False)
def send_weekly_reports(timer: func.TimerRequest) -> None:
    rt = runtime()
    now = rt.clock.now()
    for tenant in rt.tenants.active():
        try:
            outcome = send_weekly_report(rt, tenant, now=now)
        except Exception:  # logged: one tenant's failure must not stop the others
            log.exception("weekly report of %s failed", tenant.id)
            continue
        if outcome.status is Status.SENT:
            log.info("weekly report of %s for %s sent", tenant.id, outcome.week)


@bp.schedule(schedule=RECONCILE_SCHEDULE, arg_name="timer", run_on_startup=True)
@bp.durable_client_input(client_name="client")
async def reconcile_incidents(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    rt = runtime()
    found = await asyncio.to_thread(open_incidents, rt.store, rt.tenants, now=rt.clock.now())
    for incident in found:
        try:
            status = await client.get_status(instance_id(incident.tenant_id, incident.incident_id))
            state = getattr(status.runtime_status, "value", None) if status else None
            if needs_start(state) or incident.wake_overdue:
                outcome = await wake(client, incident.tenant_id, incident.incident_id)
                log.info("reconciled %s: %s", incident.incident_id, outcome)
        except Exception:  # logged: the next run tries again
            log.exception("could not reconcile %s", incident.incident_id)


@bp.schedule(schedule=ANOMALY_SWEEP_SCHEDULE, arg_name="timer", run_on_startup=False)
def sweep_anomalies(timer: func.TimerRequest) -> None:
    rt = runtime()
    now = rt.clock.now()
    for tenant in rt.tenants.active():
        try:
            result = sweep_anomalies_of(rt, tenant, now)
        except Exception:  # logged: one tenant's failure must not stop the others
            log.exception("anomaly sweep of %s failed", tenant.id)
            continue
        log.info(
            "anomaly sweep of %s: %d attached, %d digested",
            tenant.id,
            sum(len(a.findings) for a in result.attached),
            len(result.digest),
        )


@bp.schedule(schedule=ANOMALY_DIGEST_SCHEDULE, arg_name="timer", run_on_startup=False)
def send_anomaly_digests(timer: func.TimerRequest) -> None:
    rt = runtime()
    now = rt.clock.now()
    for tenant in rt.tenants.active():
        try:
            outcome = send_daily_digest(rt, tenant, now=now)
        except Exception:  # logged: one tenant's failure must not stop the others
            log.exception("anomaly digest of %s failed", tenant.id)
            continue
        if outcome.status is DigestStatus.SENT:
            log.info("anomaly digest of %s for %s sent", tenant.id, outcome.day)
    for tenant in rt.tenants.active():
        if not is_due(now, tenant.zone):
            continue
        try:
            proposed = propose_promotions(rt, tenant, now=now)
        except Exception:  # logged: one tenant's failure must not stop the others
            log.exception("promotion proposals of %s failed", tenant.id)
            continue
        for posted in proposed.posted:
            log.info("promotion of %s proposed for %s", posted.action, tenant.id)
