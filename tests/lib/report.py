"""The lines tests/run.py counts: "ok NAME" or "not ok NAME: reason", and
how many failed, for a test script's exit status."""

failures = 0


def result(name, problem=None):
    """Report one check: passed when problem is None, else failed with it."""
    global failures
    if problem:
        failures += 1
        print("not ok %s: %s" % (name, problem), flush=True)
    else:
        print("ok %s" % name, flush=True)
