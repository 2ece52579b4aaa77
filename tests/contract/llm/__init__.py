"""Contract tests of the LLM port: the Claude adapter against the Messages API double."""
