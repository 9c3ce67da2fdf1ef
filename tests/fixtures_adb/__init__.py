"""A fake Android phone (a small adbd over TCP) and the real adb server on a private port, for the device
tests and bench/bench_push.py."""
