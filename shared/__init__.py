"""SRE Copilot: the product core.

Pure Python, importable without Azure Functions: nothing here imports
``azure.functions``. The local stand-in for the Functions host lives in the
top-level ``devhost`` package, a tool around the app rather than part of it.
"""
