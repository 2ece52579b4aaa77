"""SRE Copilot: the product core. Pure Python; nothing here imports azure.functions."""
