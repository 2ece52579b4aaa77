"""The edge: HTTP, orchestration and timer triggers as blueprints.

Each trigger parses its input, makes one call into ``shared``, and maps the
outcome or error to a response. No business rules live here.
"""

from functions.admin import bp as admin_bp
from functions.incident import bp as incident_bp
from functions.schedules import bp as schedules_bp
from functions.slack import bp as slack_bp
from functions.webhooks import bp as webhooks_bp

BLUEPRINTS = (webhooks_bp, slack_bp, admin_bp, incident_bp, schedules_bp)
