"""Imports each given module alone: each in its own child process, forked from an interpreter that has loaded the
third-party libraries named by --preload (so that TensorFlow loads once, not once a module) and none of the
modules under test. A module in an import cycle fails there as it would in a fresh interpreter.

    python tests/import_alone.py [--preload tensorflow,keras] MODULE ...   # from the folder that holds them
"""
import argparse
import importlib
import os
import sys


def import_alone(module):
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(module)
        except BaseException as error:
            print(f"{module}: {error.__class__.__name__}: {error}", file=sys.stderr)
            os._exit(1)
        os._exit(0)
    return os.waitpid(pid, 0)[1] == 0


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
    sys.exit(0 if all([import_alone(module) for module in args.modules]) else 1)


if __name__ == "__main__":
    main()
