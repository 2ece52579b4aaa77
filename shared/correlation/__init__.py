"""Alert storms into incidents: which alerts share a cause.

``kinds`` sorts an alert into what it says about its service or host;
``grouping`` decides, one alert at a time, which open group it joins and why;
``storm`` reads a storm file and runs the same decisions over it.
"""
