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
from collections.abc import Callable, Iterable, Iterator

import azure.durable_functions as df
import azure.functions as func

from functions.incident import instance_id, wake
from shared.anomaly.digest import Status as DigestStatus
from shared.anomaly.digest import is_due, send_daily_digest
from shared.anomaly.live import run as sweep_anomalies_of
from shared.autonomy.promotion import sweep as propose_promotions
from shared.bootstrap import runtime
from shared.incidents.reconcile import needs_start, open_incidents
from shared.models.tenant import Tenant
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


def _each[T](
    tenants: Iterable[Tenant], what: str, run: Callable[[Tenant], T]
) -> Iterator[tuple[Tenant, T]]:
    """``run`` for each tenant in turn; a tenant whose run fails is logged and skipped,
    so one tenant's bad data or outage never stops the others."""
    for tenant in tenants:
        try:
            done = run(tenant)
        except Exception:  # logged, and the next timer run tries again
            log.exception("%s of %s failed", what, tenant.id)
            continue
        yield tenant, done


@bp.schedule(schedule=CALIBRATION_SCHEDULE, arg_name="timer", run_on_startup=False)
def calibrate_weights(timer: func.TimerRequest) -> None:
    rt = runtime()
    now = rt.clock.now()
    for tenant, outcome in _each(
        rt.tenants.active(), "calibration", lambda t: calibrate(rt.store, t.id, now=now)
    ):
        log.info("calibration of %s: %s (%s)", tenant.id, outcome.status, outcome.reason)


@bp.schedule(schedule=FORECAST_SCHEDULE, arg_name="timer", run_on_startup=False)
def sweep_forecasts(timer: func.TimerRequest) -> None:
    rt = runtime()
    now = rt.clock.now()
    for tenant, run in _each(
        rt.tenants.active(), "forecast sweep", lambda t: run_sweep(rt, t, now)
    ):
        log.info("forecast sweep of %s: %s", tenant.id, run.summary())
        for error in run.errors:
            log.warning("forecast sweep of %s: %s", tenant.id, error)


@bp.schedule(schedule=WEEKLY_REPORT_SCHEDULE, arg_name="timer", run_on_startup=False)
def send_weekly_reports(timer: func.TimerRequest) -> None:
    rt = runtime()
    now = rt.clock.now()
    reports = _each(
        rt.tenants.active(), "weekly report", lambda t: send_weekly_report(rt, t, now=now)
    )
    for tenant, outcome in reports:
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
    sweeps = _each(rt.tenants.active(), "anomaly sweep", lambda t: sweep_anomalies_of(rt, t, now))
    for tenant, result in sweeps:
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
    tenants = rt.tenants.active()
    for tenant, outcome in _each(
        tenants, "anomaly digest", lambda t: send_daily_digest(rt, t, now=now)
    ):
        if outcome.status is DigestStatus.SENT:
            log.info("anomaly digest of %s for %s sent", tenant.id, outcome.day)
    due = [t for t in tenants if is_due(now, t.zone)]
    for tenant, proposed in _each(
        due, "promotion proposals", lambda t: propose_promotions(rt, t, now=now)
    ):
        for posted in proposed.posted:
            log.info("promotion of %s proposed for %s", posted.action, tenant.id)
