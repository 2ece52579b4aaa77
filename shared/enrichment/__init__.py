"""Context assembly: signals, changes, topology and similar incidents around an incident."""
