"""SRE Copilot: the product core.

Pure Python, importable without Azure Functions: nothing here imports
``azure.functions`` except ``shared.devhost``, the local stand-in for the
Functions host, which has to build the host's request objects.
"""
