"""LLM adapters: Claude through the anthropic SDK (``anthropic.py``).

The embedded default is no model at all (``shared.ports.llm.DisabledProposer``);
``shared.bootstrap.proposer_from`` chooses from settings.
"""
