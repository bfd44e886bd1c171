"""Imports each given module alone: each in its own child process, forked from an interpreter that has loaded the
third-party libraries named by --preload (so that TensorFlow loads once, not once a module) and none of the
modules under test; as many children at a time as there are CPUs. A module in an import cycle fails there as it
would in a fresh interpreter.

    python tests/import_alone.py [--preload tensorflow,keras] MODULE ...   # from the folder that holds them
"""
import argparse
import importlib
import os
import sys


def start_import(module):
    """A child process that imports ``module`` and exits 0, or prints why not and exits 1: its process id."""
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(module)
        except BaseException as error:
            print(f"{module}: {error.__class__.__name__}: {error}", file=sys.stderr, flush=True)
            os._exit(1)
        os._exit(0)
    return pid


def import_each_alone(modules, at_once):
    """Whether every module imports alone: each in a child of its own, ``at_once`` children running at a time."""
    running, ok = set(), True
    for module in modules:
        if len(running) == at_once:
            pid, status = os.wait()
            running.discard(pid)
            ok &= status == 0
        running.add(start_import(module))
    for pid in running:
        ok &= os.waitpid(pid, 0)[1] == 0
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preload", default="")
    parser.add_argument("modules", nargs="+")
    args = parser.parse_args()
    sys.path[0] = os.getcwd()  # the modules under test, not this script's folder
    for name in filter(None, args.preload.split(",")):
        importlib.import_module(name)
    packages = {module.split(".")[0] for module in args.modules}
    assert not packages & {name.split(".")[0] for name in sys.modules}, "a module under test is already loaded"
    sys.exit(0 if import_each_alone(args.modules, at_once=os.cpu_count() or 1) else 1)


if __name__ == "__main__":
    main()
