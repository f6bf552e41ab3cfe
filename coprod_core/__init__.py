"""coprod's core: the canonical model, the three co-production checks and the flag lifecycle.

Pure by design: no I/O, no clock, no environment. Connectors and the webhook app call it.
"""
