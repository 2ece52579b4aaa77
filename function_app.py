"""The entry the Functions host loads: builds the DFApp and registers the blueprints."""

import azure.durable_functions as df
import azure.functions as func

from functions import BLUEPRINTS
from functions.remediation import bp as remediation_bp

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (*BLUEPRINTS, remediation_bp):
    app.register_functions(blueprint)
