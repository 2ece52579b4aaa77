"""The entry the Functions host loads: builds the DFApp and registers the blueprints."""

import azure.durable_functions as df
import azure.functions as func

from functions import BLUEPRINTS

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in BLUEPRINTS:
    app.register_functions(blueprint)
