"""Local stand-ins for the outside world, speaking the real wire formats over real sockets.

Used by the tests, by `outreach-monitor demo` and by the benchmarks. Every app records the
requests it receives and can be told to misbehave (see `core.Faults`).
"""
